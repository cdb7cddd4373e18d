"""Result tables (CSV + Markdown) and training-curve figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synprompt_core.comparison import AVERAGE, summarize


def write_table(frame: pd.DataFrame, stem: Path) -> list[Path]:
    """Write ``frame`` as ``<stem>.csv`` and ``<stem>.md``; return both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    frame.to_csv(csv_path, index=False)
    md_path.write_text(markdown_table(frame) + "\n")
    return [csv_path, md_path]


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cells = frame.astype(object).where(frame.notna(), "")
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _fmt(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def plot_training_curves(
    history: list[dict[str, float]], path: Path, *, title: str, metric: str = "accuracy"
) -> Path:
    """Train loss per step and dev accuracy (and the task's metric) per evaluation, side by
    side, as a PNG.

    Args:
        history: one dict per step (``step``, losses, ``dev_*`` on evaluated steps).
        path: where the PNG goes.
        title: the figure's title.
        metric: the task's metric; when not accuracy, ``dev_<metric>`` is drawn too.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(history)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.86, wspace=0.22)
    for column in ("train_loss", "loss_real", "loss_syn"):
        if column in frame:
            left.plot(frame["step"], frame[column], label=column, linewidth=1)
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.legend()
    for name in dict.fromkeys(("accuracy", metric)):  # accuracy, then the task's own
        column = f"dev_{name}"
        if column in frame:
            dev = frame.dropna(subset=[column])
            right.plot(dev["step"], dev[column], marker="o", label=f"dev {name}")
    if "conflict" in frame:
        rate = frame["conflict"].expanding().mean() * 100
        right.plot(frame["step"], rate, linewidth=1, label="conflict rate (cum.)")
    right.set_xlabel("step")
    right.set_ylabel("% (MCC x100)" if metric == "mcc" else "%")
    right.legend()
    fig.suptitle(title)  # fixed margins: tight_layout costs more than the rest of the plot
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(runs: pd.DataFrame, path, *, metric: str = "test_accuracy"):
    """Grouped bars (one group per task and Average, one bar per variant) with std whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = summarize(runs, metric=metric)
    keys = [c for c in stats.columns if c not in ("task", "mean", "std", "count")]
    stats["variant"] = stats[keys].astype(str).agg(" / ".join, axis=1)
    tasks = [t for t in sorted(stats["task"].unique()) if t != AVERAGE] + [AVERAGE]
    variants = list(dict.fromkeys(stats["variant"]))
    width = 0.8 / max(len(variants), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(tasks) * max(1, len(variants) / 3)), 4))
    for i, variant in enumerate(variants):
        rows = stats[stats["variant"] == variant].set_index("task").reindex(tasks)
        xs = [j + (i - (len(variants) - 1) / 2) * width for j in range(len(tasks))]
        ax.bar(xs, rows["mean"], width, yerr=rows["std"].fillna(0), capsize=3, label=variant)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, title=" / ".join(keys), title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
