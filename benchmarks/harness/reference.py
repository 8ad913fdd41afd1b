"""The lineage graph in plain Python, from the exported edges: an answer no engine computed,
to tell which engine is right when two disagree, and to pick a reachable shortest-path target."""
import csv
from collections import deque


class Graph:
    def __init__(self, edges_csv):
        self.ids = {}
        self.names = []
        self.down = []    # node -> [(dst, edge_type)]
        self.up = []      # node -> [src]
        with open(edges_csv, newline="") as f:
            for row in csv.reader(f):
                s, d = self._id(row[0]), self._id(row[1])
                self.down[s].append((d, row[2]))
                self.up[d].append(s)

    def _id(self, name):
        i = self.ids.get(name)
        if i is None:
            i = self.ids[name] = len(self.names)
            self.names.append(name)
            self.down.append([])
            self.up.append([])
        return i

    def closure(self, start, direction):
        """Every node reachable from start (start included, like the recursive CTE)."""
        if start not in self.ids:
            return {start}
        seen = {self.ids[start]}
        todo = [self.ids[start]]
        while todo:
            n = todo.pop()
            nexts = self.up[n] if direction == "up" else (d for d, _ in self.down[n])
            for m in nexts:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return {self.names[i] for i in seen}

    def distances(self, start):
        """Downstream BFS depth of every node reachable from start."""
        dist = {self.ids[start]: 0}
        queue = deque([self.ids[start]])
        while queue:
            n = queue.popleft()
            for m, _ in self.down[n]:
                if m not in dist:
                    dist[m] = dist[n] + 1
                    queue.append(m)
        return {self.names[i]: d for i, d in dist.items()}

    def has_edge(self, src, dst, edge_type):
        s, d = self.ids.get(src), self.ids.get(dst)
        return s is not None and d is not None and (d, edge_type) in self.down[s]
