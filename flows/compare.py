"""The comparison table of an MLflow experiment: CSV, Markdown, a bar chart, an artifact."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synprompt_core.comparison import comparison_table, summarize
from synprompt_core.reporting import markdown_table, plot_comparison
from tasks import tracking

STEM = "comparison"


@dataclass
class Comparison:
    """The table, its source runs and the files it was written to."""

    table: pd.DataFrame
    runs: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    def markdown(self) -> str:
        return markdown_table(self.table)


def compare_experiment(
    uri: str,
    experiment: str,
    out_dir: str | Path,
    *,
    metric: str = "test_accuracy",
    run_ids: set[str] | None = None,
) -> Comparison:
    """Read the experiment's finished pipeline runs; write ``comparison.{csv,md,png}`` and
    ``comparison-stats.csv`` (mean, std and seed count per cell, as numbers).

    ``run_ids`` keeps only those runs (one ablation grid out of a shared experiment).

    Raises:
        ValueError: the experiment has no finished pipeline run with ``metric``.
    """
    where = tracking.redact_uri(uri)
    known = tracking.experiment_names(uri)
    if experiment not in known:
        raise ValueError(f"no experiment {experiment!r} at {where}; it has: {', '.join(known)}")
    runs = tracking.pipeline_runs_frame(uri, experiment)
    if run_ids is not None and not runs.empty:
        runs = runs[runs["run_id"].isin(run_ids)]
    if runs.empty:
        raise ValueError(f"experiment {experiment!r} at {where} has no finished pipeline run")
    if metric not in runs:
        metrics = [c for c in runs.columns if c.endswith(("accuracy", "f1", "mcc", "task_metric"))]
        raise ValueError(f"no metric {metric!r} in {experiment!r}; its runs have: {metrics}")
    table = comparison_table(runs, metric=metric)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = Comparison(table=table, runs=runs)
    table.to_csv(out / f"{STEM}.csv", index=False)
    (out / f"{STEM}.md").write_text(result.markdown() + "\n")
    plot_comparison(runs, out / f"{STEM}.png", metric=metric)
    # the same cells as numbers (mean, std, seed count), for further analysis
    summarize(runs, metric=metric).to_csv(out / f"{STEM}-stats.csv", index=False)
    result.files = [out / f"{STEM}{ext}" for ext in (".csv", ".md", ".png", "-stats.csv")]
    return result


def publish_comparison(result: Comparison, *, run: tuple[str, str], key: str, title: str) -> None:
    """Attach the table to an MLflow run (files) and to the current Prefect run (markdown)."""
    from prefect.artifacts import create_markdown_artifact

    for path in result.files:
        tracking.log_artifact(*run, path, folder=STEM)
    create_markdown_artifact(
        key=key, markdown=f"## {title}\n\n{result.markdown()}\n", description=title
    )
