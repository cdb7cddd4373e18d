"""Paper-style comparison tables: one row per method variant, one column per task.

The shape of DawGen's result tables: rows are methods (data strategy, generator,
gradient surgery, reweighting, SPT scaling), columns are tasks, each cell is the
mean ± std of a metric over data seeds, and an Average column closes each row.
Input is one record per pipeline run with its flattened params (``data.task``,
``prompt_tuning.strategy``, ...) and the metric; nothing here reads a tracker.

Runs of one task and seed that share those five labels but differ in another setting
(the backbone, the step budget, ...) are not merged: each setting that tells them apart
becomes one more row column, so no run is hidden behind another's label.

With ``metric=TASK_METRIC`` each task's cells hold its own metric, as in LM-BFF's tables
(F1 for MRPC and QQP, MCC for CoLA, accuracy elsewhere), and its column says which.
"""

from __future__ import annotations

import math

import pandas as pd

from synprompt_core.task_registry import get_task

ROW_KEYS = ["strategy", "generator", "surgery", "reweighting", "spt"]
ZERO_SHOT = "zero_shot"  # the frozen backbone with no prompt: every run measures it
BASELINES = ("real_only", ZERO_SHOT)  # rows that use no synthetic data
TASK, SEED = "data.task", "data.seed"
AVERAGE = "Average"
BASELINE = "real_only"  # plain prompt tuning on the real rows (no SPT): what synthetic data beats
VERSUS = f"vs {BASELINE}"  # the column of each row's gain over it on the same tasks and seeds
TASK_METRIC = "test_task_metric"  # each run's score by its task's own metric (x100)
SECTIONS = ("data.", "backbone.", "generator.", "generation.", "alignment.", "prompt_tuning.")
# settings that never change a result: two runs differing only here are repeats
OPERATIONAL = {
    TASK,
    SEED,
    "backbone.device",
    "generator.device",
    "generator.trust_remote_code",
    "generation.batch_size",
    "prompt_tuning.eval_batch_size",
    "prompt_tuning.checkpoint_every",
    "alignment.embedding.batch_size",
    "alignment.embedding.device",
    "alignment.generation.timeout_s",
    "alignment.generation.max_retries",
    "alignment.generation.backoff_s",
    "alignment.generation.api_key_env",
    "alignment.generation.base_url",
}


def _value(record: pd.Series, key: str) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "None":
        return None
    return str(value)


def _on(record: pd.Series, key: str, *, default: bool = False) -> bool:
    """A boolean param as logged (``"True"``/``"true"``); ``default`` when absent."""
    value = _value(record, key)
    return default if value is None else value.lower() == "true"


def _generator(record: pd.Series) -> str:
    mode = _value(record, "generator.mode")
    if mode is not None:
        variant = _value(record, "generator.softsrv_variant")
        return f"{mode}-{variant}" if mode == "softsrv" else mode
    imported = _value(record, "data.synthetic.format")
    if imported is None and _value(record, "data.synthetic_root") is not None:
        imported = "fewgen"
    if _on(record, "alignment.generation.enabled"):  # SynAlign rows join (or are) the set
        return f"{imported} (imported)+synalign" if imported else "synalign"
    return f"{imported} (imported)" if imported else "none"


def task_metric_of(record: pd.Series) -> str | None:
    """The metric a run's task is scored by: its own ``task_spec``'s, else the registry's;
    None for a task neither names (a run from before task metrics)."""
    own = _value(record, "data.task_spec.metric")
    if own is not None:
        return own
    try:
        return get_task(str(record.get(TASK))).metric
    except ValueError:
        return None


def task_metric_columns(runs: pd.DataFrame) -> dict[str, str]:
    """``{task: "task (metric)"}``: the column names of a ``TASK_METRIC`` table."""
    names: dict[str, set[str]] = {}
    for _, record in runs.iterrows():
        names.setdefault(str(record[TASK]), set()).add(task_metric_of(record) or "?")
    return {task: f"{task} ({' / '.join(sorted(found))})" for task, found in names.items()}


def describe_variant(record: pd.Series) -> dict[str, str]:
    """Row labels of one run from its params; a param that is absent means none/off.

    Args:
        record: flattened params of one pipeline run (``prompt_tuning.strategy``, ...).
    Returns:
        ``{strategy, generator, surgery, reweighting, spt}`` as display strings.
    """
    strategy = _value(record, "prompt_tuning.strategy") or "paired"
    uses_syn = strategy not in BASELINES
    surgery = uses_syn and strategy == "paired" and _on(record, "prompt_tuning.surgery")
    weighted = uses_syn and _on(record, "prompt_tuning.use_weights", default=True)
    mmd = None
    if _on(record, "alignment.reweight.enabled"):
        use = _value(record, "alignment.reweight.use") or "resample"
        mmd = "mmd" if use == "resample" else f"mmd ({use})"
    return {
        "strategy": strategy,
        "generator": _generator(record) if uses_syn else "none",
        "surgery": "on" if surgery else "off",
        "reweighting": mmd if mmd and weighted else "off",  # SynAlign's MMD weights
        "spt": _value(record, "prompt_tuning.prompt.scale") or "none",
    }


# where the data lives: differs per seed (16-13/, 16-21/...) and per machine, so it never
# tells two recipes apart; the task, k, limits and column choices do
LOCATIONS = ("data.data_root", "data.synthetic_root")
# what a real_only run never uses: runs differing only here are the same baseline
SYNTHETIC_SIDE = (
    "data.synthetic",
    "generator.",
    "generation.",
    "alignment.",
    "prompt_tuning.surgery",
    "prompt_tuning.use_weights",
    "prompt_tuning.syn_coef",
)
# what only the paired step reads: another strategy's runs differing only here are repeats
PAIRED_ONLY = ("prompt_tuning.surgery", "prompt_tuning.syn_coef")


def _settings(runs: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The result-changing config params of each run, as display strings ("" when absent)."""
    columns = [
        c
        for c in runs.columns
        if c.startswith(SECTIONS)
        and c not in OPERATIONAL
        and c not in LOCATIONS
        and not (c.startswith("data.") and c.endswith(".path"))
    ]
    frame = runs[columns].astype(object)
    frame = frame.where(frame.notna() & (frame != "None"), "").astype(str)
    unused = [c for c in columns if c.startswith(SYNTHETIC_SIDE)]
    frame.loc[labels["strategy"].isin(BASELINES).to_numpy(), unused] = ""
    paired_only = [c for c in columns if c in PAIRED_ONLY]
    frame.loc[(labels["strategy"] != "paired").to_numpy(), paired_only] = ""
    untuned = [c for c in columns if c.startswith("prompt_tuning.")]  # zero-shot trains nothing
    frame.loc[(labels["strategy"] == ZERO_SHOT).to_numpy(), untuned] = ""
    return frame


def with_zero_shot(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One zero-shot record per run that measured ``zero_shot_<metric>`` (strategy
    ``zero_shot``, first, as in the papers' tables), then ``runs``; the records of one task
    and seed collapse in ``label_runs`` unless the backbone or data differ."""
    column = f"{ZERO_SHOT}_{metric}"
    if column not in runs.columns:
        return runs
    measured = runs[runs[column].notna()]
    zero = measured.assign(
        **{
            metric: measured[column],
            "prompt_tuning.strategy": ZERO_SHOT,
            "prompt_tuning.prompt.scale": "none",
        }
    )
    return pd.concat([zero, runs], ignore_index=True)


def _distinguishing(labels: pd.DataFrame, settings: pd.DataFrame) -> list[str]:
    """Params that differ between runs sharing a (variant, task, seed): extra row columns."""
    extra: list[str] = []
    for _, group in labels.groupby([*ROW_KEYS, "task", "seed"], sort=False):
        if len(group) > 1:
            varied = settings.loc[group.index].nunique() > 1
            extra += [c for c in settings.columns[varied.to_numpy()] if c not in extra]
    return extra


def row_keys(frame: pd.DataFrame, metric: str) -> list[str]:
    """The row columns of a ``label_runs`` frame: ``ROW_KEYS``, then any extra settings."""
    return [c for c in frame.columns if c not in ("task", "seed", metric)]


def label_runs(runs: pd.DataFrame, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """One row per (variant, task, seed) with its metric; newest first wins on repeats.

    A repeat is a run whose result-changing settings all equal a newer one's; runs that
    share a variant label but differ in a setting get that setting as an extra column.

    Args:
        runs: one row per run, params as columns plus ``metric``; ordered newest first.
    Returns:
        Columns ``ROW_KEYS + extras + [task, seed, metric]``; runs without the metric
        are dropped.
    """
    missing = {TASK, SEED, metric} - set(runs.columns)
    if missing:
        raise ValueError(f"runs frame lacks columns {sorted(missing)}; has {list(runs.columns)}")
    done = with_zero_shot(runs, metric).dropna(subset=[metric]).reset_index(drop=True)
    labels = pd.DataFrame([describe_variant(r) for _, r in done.iterrows()], columns=ROW_KEYS)
    labels["task"] = done[TASK].astype(str).to_numpy()
    labels["seed"] = done[SEED].astype(str).to_numpy()
    settings = _settings(done, labels)
    extra = _distinguishing(labels, settings)
    labels = pd.concat([labels[ROW_KEYS], settings[extra], labels[["task", "seed"]]], axis=1)
    labels[metric] = done[metric].astype(float).to_numpy()
    return labels.drop_duplicates(subset=[*ROW_KEYS, *extra, "task", "seed"], keep="first")


def summarize(runs: pd.DataFrame, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """Mean, sample std and count over seeds per (variant, task), plus the Average task.

    The Average of a row is taken per seed across tasks, then over seeds, using only
    seeds present for every task of the table; it is absent when the row lacks a task.
    """
    return _summary(label_runs(runs, metric=metric), metric)


def _summary(labelled: pd.DataFrame, metric: str) -> pd.DataFrame:
    keys = row_keys(labelled, metric)
    stats = labelled.groupby([*keys, "task"], sort=False)[metric].agg(["mean", "std", "count"])
    stats = stats.reset_index()
    tasks = sorted(labelled["task"].unique())
    averages = []
    for values, group in labelled.groupby(keys, sort=False):
        wide = group.pivot(index="seed", columns="task", values=metric)
        if set(wide.columns) != set(tasks):
            continue
        per_seed = wide.dropna().mean(axis=1)
        if per_seed.empty:
            continue
        row = dict(zip(keys, values, strict=True))
        row.update(task=AVERAGE, mean=per_seed.mean(), std=per_seed.std(), count=len(per_seed))
        averages.append(row)
    return pd.concat([stats, pd.DataFrame(averages, columns=stats.columns)], ignore_index=True)


def baseline_gains(runs: pd.DataFrame, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """Each row's gain over ``real_only`` on the (task, seed) pairs both ran: the paired
    comparison, which the seed-to-seed spread of a mean ± std cell hides.

    The baseline is the ``real_only`` row without SPT that shares the row's extra settings
    (backbone, budget, ...). Returns one record per row with a baseline pair: the row
    keys, ``gain`` (mean over the pairs of its metric minus the baseline's) and ``pairs``.
    """
    return _gains(label_runs(runs, metric=metric), metric)


def _gains(labelled: pd.DataFrame, metric: str) -> pd.DataFrame:
    keys = row_keys(labelled, metric)
    # the baseline's synthetic-side settings are blank (unused), not a different setting
    shared = [k for k in keys if k not in ROW_KEYS and not k.startswith(SYNTHETIC_SIDE)]
    is_base = (labelled["strategy"] == BASELINE) & (labelled["spt"] == "none")
    base = labelled.loc[is_base, [*shared, "task", "seed", metric]]
    records = []
    for values, group in labelled[~is_base].groupby(keys, sort=False):
        both = group.merge(base, on=[*shared, "task", "seed"], suffixes=("", " base"))
        if both.empty:
            continue
        gain = (both[metric] - both[f"{metric} base"]).mean()
        records.append({**dict(zip(keys, values, strict=True)), "gain": gain, "pairs": len(both)})
    return pd.DataFrame(records, columns=[*keys, "gain", "pairs"])


def format_cell(mean: float, std: float, *, digits: int = 1) -> str:
    """``"71.2 ± 3.4"``; a single seed (std NaN) shows the mean alone."""
    if math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def comparison_table(
    runs: pd.DataFrame, *, metric: str = "test_accuracy", digits: int = 1
) -> pd.DataFrame:
    """The paper-style table: ``ROW_KEYS`` (+ extra setting) columns, one column per task,
    then Average, then ``vs real_only`` (:func:`baseline_gains`) when the runs hold it.

    Args:
        runs: one row per pipeline run (params + ``metric``), newest first.
    Returns:
        A frame of strings, rows in first-seen order; a missing (variant, task) cell is "",
        and a cell over fewer seeds than the table's fullest one ends with ``(n=...)``.
        With ``metric=TASK_METRIC`` a task column is named ``"<task> (<metric>)"``.
    """
    labelled = label_runs(runs, metric=metric)  # once for the cells and the gains
    stats = _summary(labelled, metric)
    keys = [c for c in stats.columns if c not in ("task", "mean", "std", "count")]
    full = stats["count"].max()  # a cell over fewer seeds than the others says how many
    cells = zip(stats["mean"], stats["std"], stats["count"], strict=True)
    stats["cell"] = [
        format_cell(m, s, digits=digits) + (f" (n={n})" if n < full else "") for m, s, n in cells
    ]
    tasks = [t for t in sorted(stats["task"].unique()) if t != AVERAGE]
    wide = stats.pivot(index=keys, columns="task", values="cell")
    order = stats[keys].drop_duplicates().itertuples(index=False, name=None)
    wide = wide.reindex(index=pd.MultiIndex.from_tuples(list(order), names=keys))
    wide = wide.reindex(columns=[*tasks, AVERAGE]).fillna("")
    gains = _gains(labelled, metric)
    if not gains.empty:  # "+2.6 (n=5)": mean gain over n (task, seed) pairs
        cells = [
            f"{g:+.{digits}f} (n={n})" for g, n in zip(gains["gain"], gains["pairs"], strict=True)
        ]
        index = pd.MultiIndex.from_frame(gains[keys])
        wide[VERSUS] = pd.Series(cells, index=index).reindex(wide.index).fillna("")
    wide.columns.name = None
    if metric == TASK_METRIC:
        scored = with_zero_shot(runs, metric).dropna(subset=[metric])  # the runs in cells
        wide = wide.rename(columns=task_metric_columns(scored))
    return wide.reset_index()
