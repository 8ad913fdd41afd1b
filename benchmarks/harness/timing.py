"""Repetitions, medians and 95th percentiles."""
import math
import time


def repeat(fn, reps):
    """One warm-up call (its result is the answer checked across engines), then `reps` timed calls."""
    answer = fn()
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return answer, times


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def p95(xs):
    """Nearest rank: with 5 repetitions this is the slowest one."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


class Stopwatch:
    def __enter__(self):
        self.began = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.began
