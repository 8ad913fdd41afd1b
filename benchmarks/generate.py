#!/usr/bin/env python3
"""Generate a synthetic provenance history as OpenLineage NDJSON (spec 2-0-2 RunEvents).

    python3 benchmarks/generate.py --sf 1 --out benchmarks/data/sf1/events

Deterministic for a given --sf and --seed. Scale factor 1 gives about 1 million rows in
prov9's lineage_edges once loaded (10 gives about 10 million); the number of pipelines grows
with the scale factor while the history stays DAYS days deep, so the shape of each lineage
question (how deep, how wide) stays the same and only the amount of data around it grows.

The world: teams each own one pipeline of 5-30 stages that re-runs daily.
* ingestion stages read a landing snapshot (explicit dataset version = the date) and write a
  raw dataset; every 25th pipeline is a "core" pipeline whose raw data other teams also read;
* preprocessing stages read 1-3 earlier outputs (fan-in), write 1-2 datasets that later stages
  share (fan-out), and a quarter of them are incremental: they also read their own output, so
  today's version descends from yesterday's and lineage runs through the whole history;
* a training stage reads the last 3-14 daily versions of its feature table (explicit versions)
  and trains model version <day> (prov9_training); an evaluation stage scores it on a holdout
  set (prov9_evaluation); deployment stages ship it to staging daily and to prod weekly
  (prov9_deployment);
* core pipelines repair their raw data in place, and a fifth of the others their feature table
  (read today's version, write it back under the same version): cycles in the graph;
* about 2% of runs fail (START, FAIL with an error message) and are retried.

Every run is a START and a terminal event. Outputs carry no version facet (but for the in-place
repairs), so prov9 names each new version after the run that wrote it, and inputs resolve to
the newest version. One gzipped file per simulated day, named so that path order is time order
(prov9 loads in path order). A MANIFEST (JSON) with the parameters and the row counts prov9
should end up with is written last; its presence marks a complete data set.
"""
import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import time
import uuid

DAYS = 30
EPOCH = 1767225600  # 2026-01-01T00:00:00Z
CORE_EVERY = 25
TARGET_EDGES_PER_SF = 1_000_000

PRODUCER = "https://github.com/provenance-9/prov9/tree/main/benchmarks"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PROV9_FACETS = "https://github.com/provenance-9/prov9/blob/main/sql/facets/1-0-0/"
OL_FACETS = "https://openlineage.io/spec/facets/"

VERBS = ["clean", "dedup", "join", "aggregate", "filter", "enrich", "normalize", "encode",
         "sessionize", "validate", "impute", "window", "pivot", "sample", "featurize"]
NOUNS = ["events", "clicks", "orders", "customers", "payments", "sessions", "devices",
         "products", "accounts", "tickets", "reviews", "shipments", "ads", "searches"]
ARCHITECTURES = [("gradient_boosted_trees", "xgboost 2.1.1"), ("random_forest", "scikit-learn 1.5.2"),
                 ("logistic_regression", "scikit-learn 1.5.2"), ("transformer", "pytorch 2.5.1"),
                 ("cnn", "pytorch 2.5.1"), ("mlp", "tensorflow 2.18.0"), ("lstm", "pytorch 2.5.1")]


def facet(schema_url, **fields):
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **fields}


def job_facet(job_type):
    return {"prov9_job": facet(PROV9_FACETS + "JobTypeJobFacet.json", jobType=job_type)}


class Stage:
    """One job of a pipeline and what it reads and writes every day."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind          # ingestion, preprocessing, training, evaluation, deployment
        self.slot = None          # its 10-minute slot in the pipeline's daily schedule
        self.inputs = []          # (namespace, name, how): how = "landing" | "latest" | ("window", W)
        self.outputs = []         # (namespace, name)
        self.environment = None   # deployment stages
        self.in_place = False     # writes its input's version back (explicit version facet)


class Pipeline:
    """A team's pipeline: a DAG of stages, re-run every day from `base` seconds after midnight."""

    def __init__(self, index, seed, cores):
        rng = random.Random(f"{seed}:pipeline:{index}")
        self.index = index
        self.core = index % CORE_EVERY == 0
        self.team = f"team-{index:05d}"
        self.lake = f"s3://lake-{index:05d}"
        # Core pipelines ingest first, so that their raw data exists when the others read it.
        self.base = rng.randrange(0, 600) if self.core else rng.randrange(3600, 10800)
        n_stages = rng.randint(5, 30)
        n_deploy = 2
        # Some pipelines repair a dataset in place: one run reads today's version and writes it
        # back under the same version, a two-node cycle every recursive query must get through.
        # Core pipelines repair the raw data other teams read, a fifth of the others their
        # feature table, so the cycles sit on the paths the benchmark's lineage queries walk.
        in_place_fix = (self.core or rng.random() < 0.2) and n_stages - 2 - n_deploy >= 2
        n_data = n_stages - 2 - n_deploy - in_place_fix
        n_ingest = rng.randint(1, max(1, min(3, n_data - 1)))
        self.architecture, self.framework = rng.choice(ARCHITECTURES)
        self.model = f"{rng.choice(NOUNS)}_{rng.choice(['churn', 'fraud', 'ranker', 'forecast', 'ltv'])}_{index}"
        self.stages = []
        produced = []  # outputs of earlier data stages: candidates for later inputs
        for i in range(n_ingest):
            noun = rng.choice(NOUNS)
            s = Stage(f"ingest_{noun}_{i}", "ingestion")
            s.inputs.append((f"s3://landing-{index:05d}", f"{noun}_{i}", "landing"))
            s.outputs.append((self.lake, f"raw/{noun}_{i}"))
            produced.extend(s.outputs)
            self.stages.append(s)
        if in_place_fix and self.core:
            self.stages.append(fix_stage(self.stages[0].outputs[0]))
        for i in range(n_ingest, n_data):
            s = Stage(f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{i}", "preprocessing")
            for ds in rng.sample(produced, min(len(produced), rng.randint(1, 3))):
                s.inputs.append((ds[0], ds[1], "latest"))
            if i == n_ingest and not self.core:
                # Another team's raw data: the cross-team edge that makes impact analysis wide.
                core = cores[rng.randrange(len(cores))]
                s.inputs.append((core.lake, core.stages[0].outputs[0][1], "latest"))
            n_out = 2 if rng.random() < 0.2 else 1
            s.outputs = [(self.lake, f"{s.name}/part{k}") for k in range(n_out)]
            if rng.random() < 0.25:
                s.inputs.append((s.outputs[0][0], s.outputs[0][1], "latest"))  # incremental
            produced.extend(s.outputs)
            self.stages.append(s)
        features = self.stages[-1].outputs[0]
        holdout = rng.choice(produced[:-1]) if len(produced) > 1 else features
        if in_place_fix and not self.core:
            self.stages.append(fix_stage(features))
        self.window = rng.randint(3, 14)
        t = Stage(f"train_{self.model}", "training")
        t.inputs.append((features[0], features[1], ("window", self.window)))
        e = Stage(f"evaluate_{self.model}", "evaluation")
        e.inputs.append((holdout[0], holdout[1], "latest"))
        self.stages += [t, e]
        for env in ["staging", "prod"]:
            d = Stage(f"deploy_{self.model}_{env}", "deployment")
            d.environment = env
            self.stages.append(d)
        for slot, s in enumerate(self.stages):
            s.slot = slot  # stages run one after another, in this order


def fix_stage(dataset):
    s = Stage(f"fix_{dataset[1].replace('/', '_')}", "preprocessing")
    s.inputs.append((dataset[0], dataset[1], "latest"))
    s.outputs.append(dataset)
    s.in_place = True
    return s


class Generator:
    def __init__(self, sf, seed):
        self.seed = seed
        self.pipelines = []
        cores = []
        target = max(1, round(sf * TARGET_EDGES_PER_SF))
        estimate = 0
        while estimate < target or len(self.pipelines) < 2:
            p = Pipeline(len(self.pipelines), seed, cores)
            if p.core:
                cores.append(p)
            self.pipelines.append(p)
            estimate += DAYS * estimated_edges_per_day(p)
        # Version ids each dataset got, per day: training windows name them explicitly.
        self.versions = {}  # (namespace, name) -> list of (day, version)
        self.counts = dict.fromkeys(
            ["events", "runs", "lineage_edges", "model_versions", "deployments", "metrics"], 0)
        self.counts["jobs"] = sum(len(p.stages) for p in self.pipelines)

    def day(self, d):
        """All events of day d, as (time, line), for every pipeline."""
        out = []
        date = time.strftime("%Y-%m-%d", time.gmtime(EPOCH + d * 86400))
        for p in self.pipelines:
            self.pipeline_day(p, d, date, out)
        return out

    def pipeline_day(self, p, d, date, out):
        rng = random.Random(f"{self.seed}:day:{d}:{p.index}")
        day_start = d * 86400
        model_ref = {"name": p.model, "version": str(d + 1)}

        def ts(t):
            h, rem = divmod(t - day_start, 3600)
            return f"{date}T{h:02d}:{rem // 60:02d}:{rem % 60:02d}Z"

        def emit(t, event_type, run_id, stage, run_facets, inputs, outputs):
            ev = {"eventType": event_type, "eventTime": ts(t), "producer": PRODUCER,
                  "schemaURL": SCHEMA_URL, "run": {"runId": run_id, "facets": run_facets},
                  "job": {"namespace": p.team, "name": stage.name, "facets": job_facet(stage.kind)},
                  "inputs": inputs, "outputs": outputs}
            out.append((t, json.dumps(ev, separators=(",", ":"))))
            self.counts["events"] += 1

        for s in p.stages:
            if s.kind == "deployment" and s.environment == "prod" and d % 7 != 6:
                continue  # prod ships weekly, staging daily
            start = day_start + p.base + s.slot * 600 + rng.randrange(60)
            inputs = []
            for ns, name, how in s.inputs:
                if how == "landing":
                    inputs.append({"namespace": ns, "name": name, "facets": {"version": facet(
                        OL_FACETS + "1-0-1/DatasetVersionDatasetFacet.json", datasetVersion=date)}})
                elif how == "latest":
                    inputs.append({"namespace": ns, "name": name})
                else:  # a training window: the last W daily versions, named explicitly
                    for _, v in self.versions.get((ns, name), [])[-how[1]:]:
                        inputs.append({"namespace": ns, "name": name, "facets": {"version": facet(
                            OL_FACETS + "1-0-1/DatasetVersionDatasetFacet.json", datasetVersion=v)}})
            if s.kind != "deployment" and rng.random() < 0.02:
                failed = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                emit(start, "START", failed, s, {}, inputs, [])
                emit(start + 30 + rng.randrange(60), "FAIL", failed, s, {"errorMessage": facet(
                    OL_FACETS + "1-0-1/ErrorMessageRunFacet.json",
                    message=rng.choice(["OutOfMemoryError: Java heap space", "Connection reset by peer",
                                        "Task timed out after 3600 s", "KeyError: 'user_id'"]),
                    programmingLanguage="python")}, inputs, [])
                self.counts["runs"] += 1
                self.counts["lineage_edges"] += len(inputs)
                start += 120
            run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            end = start + 60 + rng.randrange(300)
            emit(start, "START", run_id, s, {}, inputs, [])
            self.counts["runs"] += 1
            self.counts["lineage_edges"] += len(inputs) + len(s.outputs)
            outputs = []
            for ns, name in s.outputs:
                rows = rng.randrange(10_000, 50_000_000)
                output = {"namespace": ns, "name": name, "outputFacets": {"outputStatistics": facet(
                    OL_FACETS + "1-0-2/OutputStatisticsOutputDatasetFacet.json", rowCount=rows, size=rows * 120)}}
                if s.in_place:
                    output["facets"] = {"version": facet(OL_FACETS + "1-0-1/DatasetVersionDatasetFacet.json",
                                                         datasetVersion=self.versions[(ns, name)][-1][1])}
                else:
                    self.versions.setdefault((ns, name), []).append((d, run_id))
                    del self.versions[(ns, name)][:-14]  # no window is longer than 14 days
                outputs.append(output)
            run_facets = {}
            if s.kind == "training":
                loss = round(0.6 * 0.97 ** d + 0.1 * rng.random(), 6)
                run_facets["prov9_training"] = facet(
                    PROV9_FACETS + "TrainingRunFacet.json", model=model_ref, architecture=p.architecture,
                    framework=p.framework, hyperparameters={"learning_rate": rng.choice([0.01, 0.03, 0.1]),
                                                            "epochs": rng.randint(5, 50)},
                    artifactUri=f"s3://models-{p.index:05d}/{p.model}/{d + 1}/model.bin",
                    metrics={"train_loss": loss})
                self.counts["model_versions"] += 1
                self.counts["metrics"] += 1
                self.counts["lineage_edges"] += 1  # run -> model version
            elif s.kind == "evaluation":
                auc = round(min(0.99, 0.6 + 0.01 * d + 0.2 * rng.random()), 6)
                run_facets["prov9_evaluation"] = facet(
                    PROV9_FACETS + "EvaluationRunFacet.json", model=model_ref,
                    metrics={"auc": auc, "accuracy": round(auc - 0.05 * rng.random(), 6),
                             "logloss": round(1 - auc + 0.1 * rng.random(), 6)})
                self.counts["metrics"] += 3
                self.counts["lineage_edges"] += 1  # model version -> run
            elif s.kind == "deployment":
                run_facets["prov9_deployment"] = facet(
                    PROV9_FACETS + "DeploymentRunFacet.json", model=model_ref, environment=s.environment,
                    target=f"k8s://{s.environment}-cluster/{p.team}/{p.model}",
                    runtime={"image": f"registry.example.com/{p.model}:{d + 1}"},
                    hardware={"instance": rng.choice(["m6i.xlarge", "g5.xlarge", "c7g.2xlarge"])},
                    deployedBy=f"ci-{p.team}")
                self.counts["deployments"] += 1
                self.counts["lineage_edges"] += 1  # model version -> deployment
            emit(end, "COMPLETE", run_id, s, run_facets, inputs, outputs)


def estimated_edges_per_day(p):
    """Lineage edges one day of p adds, roughly (used only to size the world)."""
    n = 0
    for s in p.stages:
        if s.kind == "training":
            n += p.window + 1
        elif s.kind == "evaluation":
            n += 2
        elif s.kind == "deployment":
            n += 1 if s.environment == "staging" else 1 / 7
        else:
            n += len(s.inputs) + len(s.outputs)
    return n


def source_hash():
    """Identifies this generator's code: data generated by another version of it is stale."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sf", type=float, required=True, help="scale factor: 1 = about 1M lineage edges")
    ap.add_argument("--out", required=True, help="directory for day-NNNN.ndjson.gz and MANIFEST")
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args()
    if args.sf <= 0:
        sys.exit("--sf must be positive")
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "MANIFEST")  # no .json: `prov9 load DIR` skips it
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    began = time.monotonic()
    g = Generator(args.sf, args.seed)
    size = 0
    for d in range(DAYS):
        events = g.day(d)
        events.sort(key=lambda e: e[0])  # stable: START before COMPLETE at the same second
        path = os.path.join(args.out, f"day-{d:04d}.ndjson.gz")
        # No name or time in the gzip header: the same arguments give the same bytes.
        with open(path + ".tmp", "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=raw, mtime=0) as z:
            z.write("".join(line + "\n" for _, line in events).encode())
        os.replace(path + ".tmp", path)
        size += os.path.getsize(path)
        if sys.stderr.isatty():
            print(f"\rgenerate: day {d + 1}/{DAYS}, {g.counts['events']:,} events", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    manifest = {"generator": source_hash(), "sf": args.sf, "seed": args.seed, "days": DAYS,
                "pipelines": len(g.pipelines), "files": DAYS, "gzip_bytes": size,
                "seconds": round(time.monotonic() - began, 1), "expected_rows": g.counts}
    with open(manifest_path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=2)
    os.replace(manifest_path + ".tmp", manifest_path)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
