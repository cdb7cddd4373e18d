"""Orchestration overhead: the smoke pipeline through Prefect + MLflow vs the bare core calls.

In one process, against a Prefect server that is already up (a temporary local one) and
one MLflow SQLite store: a warm-up flow run, then ``--repeats`` rounds of (1) the core
functions called directly (read the real splits and synthetic set, load the backbone,
``run_prompt_tuning``, write its output files), (2) the same work as the
``synprompt_pipeline`` flow on an empty stage cache, and (3) the flow again, fully cached.
Each round starts from fresh output folders; the ratios are of the medians. Prints a table;
``--json OUT`` writes ``{"overhead": flow/direct - 1, "cached_fraction": cached/first,
"seconds": {...per round...}}``. Example:

    python benchmarks/orchestration_overhead.py --repeats 5 --json overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flows.runtime import apply_defaults  # noqa: E402

apply_defaults()

from synprompt_core.configs.pipeline import PipelineConfig, load_config  # noqa: E402


def with_output(config: PipelineConfig, out: Path, uri: str) -> PipelineConfig:
    tracking = config.tracking.model_copy(update={"output_dir": str(out), "tracking_uri": uri})
    return config.model_copy(update={"tracking": tracking})


def run_direct(config: PipelineConfig, out: Path) -> float:
    """The pipeline's work with no Prefect and no MLflow: the same reads, training and
    output files (prompt, history, curves, results table); returns test accuracy."""
    from synprompt_core.backbones import load_backbone
    from synprompt_core.data import read_real_splits, read_synthetic
    from synprompt_core.training.outputs import write_outputs
    from synprompt_core.training.run import run_prompt_tuning

    tables = read_real_splits(config.data)
    backbone = load_backbone(config.backbone, config.data.spec)
    outcome = run_prompt_tuning(
        backbone=backbone,
        real=tables["train"],
        syn=read_synthetic(config.data),
        dev=tables.get("dev"),
        test=tables["test"],
        config=config.prompt_tuning,
        zero_shot=config.zero_shot_baseline,
        checkpoint_dir=out / "checkpoint",
        progress=False,
    )
    return write_outputs(out, config, outcome)["summary"]["test_accuracy"]


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=ROOT / "deployments/params/smoke.yaml")
    parser.add_argument("--repeats", type=int, default=5, help="Rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="Write {overhead, cached_fraction} here")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    os.chdir(ROOT)  # the params' data paths are relative to the repo root
    config = load_config(args.params)

    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import synprompt_pipeline

    seconds: dict[str, list[float]] = {"direct": [], "first": [], "cached": []}
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=90):
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        synprompt_pipeline(with_output(config, Path(tmp) / "warmup", uri))
        for round_ in range(args.repeats):
            direct_s, direct_acc = timed(run_direct, config, Path(tmp) / f"direct-{round_}")
            flow_config = with_output(config, Path(tmp) / f"flow-{round_}", uri)
            first_s, first = timed(synprompt_pipeline, flow_config)
            cached_s, cached = timed(synprompt_pipeline, flow_config)
            assert cached["cached"] and not first["cached"], "the re-run must hit the cache"
            for name, value in (("direct", direct_s), ("first", first_s), ("cached", cached_s)):
                seconds[name].append(value)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    overhead, fraction = median["first"] / median["direct"] - 1, median["cached"] / median["first"]
    rows = [
        ("direct core calls (baseline)", "direct", direct_acc),
        ("Prefect + MLflow flow, first", "first", first["test_accuracy"]),
        ("Prefect + MLflow flow, cached", "cached", cached["test_accuracy"]),
    ]
    print(f"\n{'run':34s} {'median s':>9s} {'min-max s':>12s} {'test acc':>9s}")
    for label, name, acc in rows:
        spread = f"{min(seconds[name]):.2f}-{max(seconds[name]):.2f}"
        print(f"{label:34s} {median[name]:9.2f} {spread:>12s} {acc:9.2f}")
    print(f"\n{args.repeats} rounds; overhead {overhead:+.1%} (target < 20%)   "
          f"cached/first {fraction:.1%} (target < 10%)")  # fmt: skip
    if args.json:
        result = {"overhead": overhead, "cached_fraction": fraction, "seconds": seconds}
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
