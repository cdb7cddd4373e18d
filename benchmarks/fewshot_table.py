"""Merge ``real_fewshot.py --json`` files of one task into one Markdown table.

Runs of different methods (or seeds) on the same task merge cell by cell; a later file
wins where two give the same method and seed. The last column compares each method with
``real_only`` on the seeds both have. A task whose metric is not accuracy (F1 for MRPC and
QQP, MCC for CoLA) gets a second table of that metric, from the files that carry it.
Example:

    python benchmarks/fewshot_table.py sst2.json sst2_mmd.json --json merged.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from real_fewshot import DEFAULT_METHODS, VARIANTS

# real_fewshot.py's methods in its table order, then any variant it does not run by default
ORDER = [*DEFAULT_METHODS, *(name for name in VARIANTS if name not in DEFAULT_METHODS)]


# what makes two runs comparable: a table mixes no budgets, models or protocols (the last
# two are the mmd arm's: a file that ran no mmd arm records them not)
SETTINGS = ("model", "kind", "k", "steps", "patience", "eval_every", "batch_size", "lr",
            "prompt_length", "train_seed", "syn_limit", "reweight",
            "embedding_encoder")  # fmt: skip


def common_settings(payloads: list[dict], names: list[str]) -> dict:
    """The settings every file agrees on; ``SystemExit`` naming both files if two differ.

    A file written before a setting was recorded says nothing about it and agrees with any.
    """
    settings: dict[str, tuple[object, str]] = {}
    for payload, name in zip(payloads, names, strict=True):
        for key in SETTINGS:
            if key not in payload:
                continue
            value = payload[key]
            if key in settings and settings[key][0] != value:
                raise SystemExit(
                    f"{name} has {key}={value!r} but {settings[key][1]} has "
                    f"{key}={settings[key][0]!r}: one table, one protocol"
                )
            settings.setdefault(key, (value, name))
    return {key: value for key, (value, _) in settings.items()}


def merge(payloads: list[dict], names: list[str] | None = None) -> dict:
    names = names or [f"file {i + 1}" for i in range(len(payloads))]
    tasks = {p["task"] for p in payloads}
    if len(tasks) != 1:
        raise SystemExit(f"one task per table, got {sorted(tasks)}")
    metrics = {p["metric"] for p in payloads if "metric" in p}  # older files name none
    if len(metrics) > 1:
        raise SystemExit(f"one metric per task, got {sorted(metrics)}")
    settings = common_settings(payloads, names)
    merged: dict = {"task": tasks.pop(), **settings, "results": {}}
    if metrics:
        merged["metric"] = metrics.pop()
        older = sum("metric" not in p for p in payloads)
        if older and merged["metric"] != "accuracy":
            print(
                f"note: {older} file(s) predate task metrics: their arms were selected on dev "
                f"accuracy, the others on dev {merged['metric']}",
                file=sys.stderr,
            )
    accuracy: dict[str, dict[str, float]] = {}
    metric: dict[str, dict[str, float]] = {}
    for payload in payloads:
        for name, row in payload["results"].items():
            scores = row.get("metric_per_seed", {})
            for seed, value in row["per_seed"].items():
                accuracy.setdefault(name, {})[seed] = value
                if seed in scores:
                    metric.setdefault(name, {})[seed] = scores[seed]
                else:  # this file's run replaces the cell: an earlier run's metric is not its
                    metric.get(name, {}).pop(seed, None)
    for prefix, per_seed in (("", accuracy), ("metric_", metric)):  # accuracy, then the metric
        for name in sorted(per_seed, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
            values = per_seed[name]
            if not values:
                continue
            arr = np.array(list(values.values()))
            merged["results"].setdefault(name, {}).update(
                {
                    f"{prefix}mean": float(arr.mean()),
                    f"{prefix}std": float(arr.std()),
                    f"{prefix}per_seed": values,
                }
            )
    return merged


def markdown(merged: dict, prefix: str = "") -> str:
    """The table of test accuracy (``prefix=""``) or of the task's metric (``"metric_"``)."""
    results = {n: r for n, r in merged["results"].items() if f"{prefix}per_seed" in r}
    seeds = sorted({s for row in results.values() for s in row[f"{prefix}per_seed"]}, key=int)
    base = results.get("real_only", {}).get(f"{prefix}per_seed", {})
    lines = [
        "| method | " + " | ".join(f"seed {s}" for s in seeds)
        + " | mean ± std (n) | vs real_only, same seeds |",
        "|---" * (len(seeds) + 3) + "|",
    ]  # fmt: skip
    for name, row in results.items():
        scores = row[f"{prefix}per_seed"]
        cells = [f"{scores[s]:.2f}" if s in scores else "" for s in seeds]
        shared = [s for s in scores if s in base]
        delta = ""
        if name != "real_only" and shared:
            diff = np.mean([scores[s] - base[s] for s in shared])
            delta = f"{diff:+.2f}"
        summary = f"{row[f'{prefix}mean']:.2f} ± {row[f'{prefix}std']:.2f} ({len(scores)})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {summary} | {delta} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write the merged results here")
    args = parser.parse_args()
    merged = merge([json.loads(f.read_text()) for f in args.files], [str(f) for f in args.files])
    print(f"**{merged['task']}** (test accuracy)\n\n{markdown(merged)}")
    if any("metric_per_seed" in row for row in merged["results"].values()):
        title = f"**{merged['task']}** (test {merged['metric']})"
        print(f"\n{title}\n\n{markdown(merged, 'metric_')}")
    if args.json:
        args.json.write_text(json.dumps(merged, indent=2))


if __name__ == "__main__":
    main()
