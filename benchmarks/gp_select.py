"""GP demonstration selection: incremental rank-one tracker vs a from-scratch refit per pick.

Design: every pool row is its own candidate cluster (``n_clusters=None``), the hardest case
for the tracker: 500 picks among 20,000 candidates. The pool is sentence-embedding-like:
384-d, low-rank structure plus noise, L2-normalised. The baseline refits the GP at every
step (kernel of the chosen points, Cholesky, triangular solve against all candidates).
Both start from the same seeded-random first pick; the picks must be identical.

    python benchmarks/gp_select.py --json gp_select.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from synprompt_core.alignment import greedy_max_variance, greedy_max_variance_refit


def make_pool(n: int, *, dim: int, rank: int, seed: int, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, dim))
    x += noise * np.sqrt(rank) * rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=20000)
    parser.add_argument("--picks", type=int, default=500)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--length-scale", type=float, default=0.5)
    parser.add_argument("--noise", type=float, default=1e-6)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads, both methods")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    pool = make_pool(args.pool, dim=args.dim, rank=16, seed=0)
    first = int(np.random.default_rng(42).integers(args.pool))
    kw = {"n_picks": args.picks, "first": first, "length_scale": args.length_scale,
          "noise": args.noise}  # fmt: skip
    with threadpool_limits(limits=args.threads):
        start = time.perf_counter()
        picks, variances = greedy_max_variance(pool, **kw)
        incremental = time.perf_counter() - start
        start = time.perf_counter()
        ref = greedy_max_variance_refit(pool, **kw)
        refit = time.perf_counter() - start
    same = bool(np.array_equal(picks, ref))
    print(f"pool {args.pool} x {args.dim}, {args.picks} picks, length scale {args.length_scale}, "
          f"{args.threads} BLAS thread(s)")  # fmt: skip
    print(f"{'method':>12} {'seconds':>9}")
    print(f"{'incremental':>12} {incremental:>9.2f}")
    print(f"{'refit':>12} {refit:>9.2f}")
    marks = sorted({min(i, args.picks - 1) for i in (1, 99, args.picks - 1)})  # 2, 100, last
    shown = ", ".join(f"{i + 1}: {variances[i]:.3f}" for i in marks)
    print(f"speedup {refit / incremental:.1f}x, same picks: {same}, variance at pick {shown}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"speedup": refit / incremental, "same_picks": same}, f, indent=2)


if __name__ == "__main__":
    main()
