"""Few-shot prompt tuning with synthetic data on real LM-BFF splits, over seeds.

Runs zero-shot and the DawGen data-combination ablations (same budgets for all) on a
frozen backbone (MiniLM sentence encoder by default) and prints mean ± std test
accuracy over the seeds. ``paired+surgery+mmd`` trains paired+surgery with SynAlign's
MMD weights on the synthetic set (MiniLM embeddings, default ReweightConfig; computed
once per seed). Example:

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
from synprompt_core.training.evaluation import evaluate  # noqa: E402
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


def run_seed(args, backbone, task, seed, names, mmd_stats=None) -> dict[str, float]:
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
    scores = {}
    if "zero_shot" in names:
        scores["zero_shot"] = (
            100 * evaluate(backbone=backbone, prompt=None, table=tables["test"]).accuracy
        )
        print(f"  seed {seed} {'zero_shot':<20} {scores['zero_shot']:6.2f}", flush=True)
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
        scores[name] = 100 * outcome.test.accuracy
        print(
            f"  seed {seed} {name:<20} {scores[name]:6.2f}  "
            f"(best step {outcome.train.best_step}, {time.perf_counter() - start:.0f}s)",
            flush=True,
        )
    return scores


def summarise(per_seed: dict[int, dict[str, float]], names: list[str]) -> dict:
    results = {}
    for name in names:
        values = {str(seed): scores[name] for seed, scores in per_seed.items()}
        arr = np.array(list(values.values()))
        results[name] = {
            "mean": float(arr.mean()),
            "std": float(arr.std(ddof=0)),
            "per_seed": values,
        }
    return results


def print_table(task_name: str, results: dict) -> None:
    base = results.get("real_only", {}).get("mean")
    seeds = len(next(iter(results.values()))["per_seed"])
    print(f"\n{task_name}: test accuracy (%) over {seeds} seeds")
    print(f"{'method':<22} {'mean ± std':>14} {'vs real_only':>13}")
    for name, row in results.items():
        delta = "" if base is None else f"{row['mean'] - base:+.2f}"
        print(f"{name:<22} {row['mean']:6.2f} ± {row['std']:5.2f} {delta:>13}")


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
    per_seed: dict[int, dict[str, float]] = {}
    for seed in args.seeds:  # the JSON is rewritten after every seed: a long run keeps its part
        per_seed[seed] = run_seed(args, backbone, task, seed, args.methods, mmd_stats)
        payload = write_payload(args, task, per_seed, mmd_stats)
    print_table(task.name, payload["results"])
    return payload


def write_payload(args, task, per_seed: dict, mmd_stats: dict) -> dict:
    payload = {
        "task": task.name,
        "model": args.model,
        "steps": args.steps,
        "patience": args.patience,
        "device": args.device,
        "results": summarise(per_seed, args.methods),
    }
    if mmd_stats:
        payload["mmd"] = mmd_stats
    if "paired+surgery+mmd" in args.methods:
        payload["reweight"] = ReweightConfig.model_validate(args.reweight).model_dump(mode="json")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
    return payload


if __name__ == "__main__":
    main()
