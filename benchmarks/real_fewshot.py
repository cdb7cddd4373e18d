"""Few-shot prompt tuning with synthetic data on real LM-BFF splits, over seeds.

Runs zero-shot and the DawGen data-combination ablations (same budgets for all) on a
frozen backbone (MiniLM sentence encoder by default) and prints mean ± std test
accuracy over the seeds, with the task's own metric beside it where that is not
accuracy (LM-BFF: F1 for MRPC and QQP, MCC x100 for CoLA; dev selection uses it).
``paired+surgery+mmd`` trains paired+surgery with SynAlign's MMD weights on the
synthetic set (MiniLM embeddings, default ReweightConfig; computed once per seed). Example:

    python benchmarks/real_fewshot.py --task SST-2 --data-root ../shared/data/lm-bff \
        --synthetic-root ../shared/data/fewgen --seeds 13 21 42 87 100 --json sst2.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synprompt_core.alignment import apply_weights, embed_texts, reweight  # noqa: E402
from synprompt_core.backbones import load_backbone  # noqa: E402
from synprompt_core.configs.alignment import EmbeddingConfig, ReweightConfig  # noqa: E402
from synprompt_core.configs.backbone import BackboneConfig  # noqa: E402
from synprompt_core.configs.prompt_tuning import PromptTuningConfig  # noqa: E402
from synprompt_core.data import fewgen_path, read_fewgen_json, read_lmbff_split  # noqa: E402
from synprompt_core.task_registry import get_task  # noqa: E402
from synprompt_core.training.evaluation import EvalResult, evaluate  # noqa: E402
from synprompt_core.training.run import run_prompt_tuning  # noqa: E402

VARIANTS = {
    "real_only": {"strategy": "real_only", "surgery": False},
    "real+syn": {"strategy": "real+syn", "surgery": False},
    "paired": {"strategy": "paired", "surgery": False},
    "paired+surgery": {"strategy": "paired", "surgery": True},
    "paired+surgery+spt": {"strategy": "paired", "surgery": True, "scale": "token"},
    "paired+surgery+mmd": {"strategy": "paired", "surgery": True, "mmd": True},
    "syn_only": {"strategy": "syn_only", "surgery": False},
}

DEFAULT_METHODS = [
    "zero_shot",
    "real_only",
    "real+syn",
    "paired",
    "paired+surgery",
    "paired+surgery+spt",
    "paired+surgery+mmd",
]


def tuning_config(variant: dict, args: argparse.Namespace) -> PromptTuningConfig:
    return PromptTuningConfig.model_validate(
        {
            "strategy": variant["strategy"],
            "surgery": variant["surgery"],
            "prompt": {"length": args.prompt_length, "scale": variant.get("scale", "none")},
            "max_steps": args.steps,
            "batch_size": args.batch_size,
            "eval_every": args.eval_every,
            "patience": args.patience,
            "lr": args.lr,
            "seed": args.train_seed,
        }
    )


def load_split_tables(args, task, seed):
    tables = {
        split: read_lmbff_split(args.data_root, task, k=args.k, seed=seed, split=split)
        for split in ("train", "dev", "test")
    }
    path = fewgen_path(args.synthetic_root, task, k=args.k, seed=seed)
    syn = read_fewgen_json(path, task)
    if args.syn_limit:
        syn = syn.sample(n=min(args.syn_limit, len(syn)), random_state=seed).reset_index(drop=True)
    return tables, syn


def example_texts(table, task) -> list[str]:
    if task.is_pair:
        return (table["text_a"] + " " + table["text_b"]).tolist()
    return table["text_a"].tolist()


def mmd_weighted(args, task, tables, syn) -> tuple:
    """The synthetic table after SynAlign MMD reweighting, and the MMD diagnostics.

    MiniLM embeddings of the real target rows (train, or train + dev: the config's
    ``target``) vs synthetic texts, the default ReweightConfig updated with ``--reweight``;
    embeddings are cached by content under ``--embedding-cache``, so a seed is embedded once.
    """
    config = ReweightConfig.model_validate(args.reweight)
    real = pd.concat([tables[s] for s in config.target_splits], ignore_index=True)
    embedding = EmbeddingConfig(encoder=args.embedding_encoder, device=args.device)
    real_emb, syn_emb = (
        embed_texts(example_texts(t, task), config=embedding, cache_dir=args.embedding_cache)
        for t in (real, syn)
    )
    result = reweight(
        syn=syn_emb,
        real=real_emb,
        config=config,
        syn_labels=syn["label"].to_numpy(),
        real_labels=real["label"].to_numpy(),
    )
    stats = {
        "mmd_before": result.mmd_before,
        "mmd_after": result.mmd_after,
        "ess": result.ess,
        "n_synthetic": len(syn),
        "solver": result.solver,
    }
    table = apply_weights(
        syn, result.weights, use=config.use, seed=config.seed, by_label=config.by_label
    )
    return table, stats


def percent_scores(result: EvalResult) -> dict[str, float]:
    """Test accuracy and the task's own metric of one arm, x100."""
    return {"accuracy": 100 * result.accuracy, "metric": 100 * result.primary}


def run_seed(args, backbone, task, seed, names, mmd_stats=None) -> dict[str, dict[str, float]]:
    tables, syn = load_split_tables(args, task, seed)
    weighted = None
    if any(VARIANTS.get(name, {}).get("mmd") for name in names):
        weighted, stats = mmd_weighted(args, task, tables, syn)
        if mmd_stats is not None:
            mmd_stats[str(seed)] = stats
        print(
            f"  seed {seed} MMD {stats['mmd_before']:.4f} -> {stats['mmd_after']:.4f}, "
            f"ESS {stats['ess']:.0f}/{stats['n_synthetic']}",
            flush=True,
        )
    own = "" if task.metric == "accuracy" else f" {task.metric} "
    scores = {}
    if "zero_shot" in names:
        scores["zero_shot"] = percent_scores(
            evaluate(backbone=backbone, prompt=None, table=tables["test"])
        )
        line = f"  seed {seed} {'zero_shot':<20} {scores['zero_shot']['accuracy']:6.2f}"
        print(line + (f"{own}{scores['zero_shot']['metric']:6.2f}" if own else ""), flush=True)
    for name in names:
        if name == "zero_shot":
            continue
        start = time.perf_counter()
        outcome = run_prompt_tuning(
            backbone=backbone,
            real=tables["train"],
            syn=weighted if VARIANTS[name].get("mmd") else syn,
            dev=tables["dev"],
            test=tables["test"],
            config=tuning_config(VARIANTS[name], args),
            zero_shot=False,
            progress=False,
        )
        scores[name] = percent_scores(outcome.test)
        metric = f"{own}{scores[name]['metric']:6.2f}" if own else ""
        print(
            f"  seed {seed} {name:<20} {scores[name]['accuracy']:6.2f}{metric}  "
            f"(best step {outcome.train.best_step}, {time.perf_counter() - start:.0f}s)",
            flush=True,
        )
    return scores


def score_columns(metric: str) -> dict[str, str]:
    """JSON key prefix -> score of ``percent_scores``: accuracy, then the task's metric."""
    return {"": "accuracy", **({"metric_": "metric"} if metric != "accuracy" else {})}


def summarise(per_seed: dict[int, dict[str, dict[str, float]]], names: list[str], metric: str):
    """Per method: ``mean``/``std``/``per_seed`` of test accuracy (%), and where the task's
    metric is not accuracy the same of it as ``metric_mean``/``metric_std``/``metric_per_seed``.
    """
    results = {}
    for name in names:
        results[name] = {}
        for prefix, score in score_columns(metric).items():
            values = {str(seed): scores[name][score] for seed, scores in per_seed.items()}
            arr = np.array(list(values.values()))
            results[name][f"{prefix}mean"] = float(arr.mean())
            results[name][f"{prefix}std"] = float(arr.std(ddof=0))
            results[name][f"{prefix}per_seed"] = values
    return results


def print_table(task_name: str, results: dict, metric: str = "accuracy") -> None:
    base = results.get("real_only")
    seeds = len(next(iter(results.values()))["per_seed"])
    columns = dict(zip(score_columns(metric), ("accuracy", metric), strict=False))
    scale = "%; MCC x100" if metric == "mcc" else "%"
    print(f"\n{task_name}: test {' and '.join(columns.values())} ({scale}) over {seeds} seeds")
    header = "".join(
        f" {name + ' mean ± std':>19} {'vs real_only':>13}" for name in columns.values()
    )
    print(f"{'method':<22}{header}")
    for name, row in results.items():
        cells = ""
        for prefix in columns:
            mean, std = row[f"{prefix}mean"], row[f"{prefix}std"]
            delta = "" if base is None else f"{mean - base[f'{prefix}mean']:+.2f}"
            cells += f" {mean:10.2f} ± {std:5.2f} {delta:>13}"
        print(f"{name:<22}{cells}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", required=True, help="any task of the registry, e.g. SST-2")
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--synthetic-root", required=True, type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[13, 21, 42, 87, 100])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--model", default="minilm", help="backbone model (hub id or folder)")
    parser.add_argument("--kind", default="sentence", help="backbone kind")
    parser.add_argument(
        "--methods", nargs="+", default=DEFAULT_METHODS, choices=["zero_shot", *VARIANTS]
    )
    parser.add_argument("--steps", type=int, default=PromptTuningConfig().max_steps)
    parser.add_argument("--batch-size", type=int, default=PromptTuningConfig().batch_size)
    parser.add_argument("--eval-every", type=int, default=PromptTuningConfig().eval_every)
    parser.add_argument(
        "--patience",
        type=int,
        default=PromptTuningConfig().patience,
        help="stop after N dev evaluations without gain (0: run every step)",
    )
    parser.add_argument("--lr", type=float, default=PromptTuningConfig().lr)
    parser.add_argument("--prompt-length", type=int, default=PromptTuningConfig().prompt.length)
    parser.add_argument("--train-seed", type=int, default=PromptTuningConfig().seed)
    parser.add_argument("--syn-limit", type=int, default=None, help="subsample the synthetic set")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--reweight",
        type=json.loads,
        default={},
        help='ReweightConfig fields for the mmd variant as JSON, e.g. \'{"use": "loss_weights"}\'',
    )
    parser.add_argument(
        "--embedding-encoder", default="minilm", help="sentence encoder for the MMD weights"
    )
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        default=Path(".synprompt/embeddings"),
        help="folder caching the MMD variant's embeddings by content",
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    backbone = load_backbone(
        BackboneConfig(kind=args.kind, model=args.model, device=args.device), task
    )
    mmd_stats: dict[str, dict] = {}
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    for seed in args.seeds:  # the JSON is rewritten after every seed: a long run keeps its part
        per_seed[seed] = run_seed(args, backbone, task, seed, args.methods, mmd_stats)
        payload = write_payload(args, task, per_seed, mmd_stats)
    print_table(task.name, payload["results"], task.metric)
    return payload


def write_payload(args, task, per_seed: dict, mmd_stats: dict) -> dict:
    """The JSON of a run: per method, ``mean``/``std``/``per_seed`` test accuracy (%) and,
    where the task's ``metric`` is not accuracy, ``metric_mean``/``metric_std``/
    ``metric_per_seed`` of it."""
    payload = {
        "task": task.name,
        "metric": task.metric,
        "model": args.model,
        "kind": args.kind,
        "k": args.k,
        "steps": args.steps,
        "patience": args.patience,
        "eval_every": args.eval_every,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "prompt_length": args.prompt_length,
        "train_seed": args.train_seed,
        "syn_limit": args.syn_limit,
        "device": args.device,
        "results": summarise(per_seed, args.methods, task.metric),
    }
    if mmd_stats:
        payload["mmd"] = mmd_stats
    if "paired+surgery+mmd" in args.methods:
        payload["reweight"] = ReweightConfig.model_validate(args.reweight).model_dump(mode="json")
        payload["embedding_encoder"] = args.embedding_encoder  # the MMD weights' embeddings
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
    return payload


if __name__ == "__main__":
    main()
