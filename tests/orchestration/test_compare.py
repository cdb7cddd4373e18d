"""The paper-style comparison table, built from a hand-made frame of run records."""

from __future__ import annotations

import pandas as pd
import pytest

from synprompt_core.comparison import (
    AVERAGE,
    ROW_KEYS,
    TASK_METRIC,
    VERSUS,
    baseline_gains,
    comparison_table,
    describe_variant,
    format_cell,
    summarize,
)
from synprompt_core.reporting import plot_comparison


def record(task, seed, acc, strategy="paired", surgery="True", **extra):
    return {
        "data.task": task,
        "data.seed": str(seed),
        "prompt_tuning.strategy": strategy,
        "prompt_tuning.surgery": surgery,
        "prompt_tuning.prompt.scale": "none",
        "data.synthetic_root": "../shared/data/fewgen",
        "test_accuracy": acc,
        **extra,
    }


@pytest.fixture
def runs() -> pd.DataFrame:
    rows = [
        record("SST-2", 13, 80.0),
        record("SST-2", 21, 90.0),
        record("MRPC", 13, 60.0),
        record("MRPC", 21, 70.0),
        record("SST-2", 13, 70.0, strategy="real_only", surgery="False"),
        record("SST-2", 21, 74.0, strategy="real_only", surgery="False"),
        record("MRPC", 13, 50.0, strategy="real_only", surgery="False"),
        record("MRPC", 21, 50.0, strategy="real_only", surgery="False"),
        record("SST-2", 13, 10.0),  # an older run of the same cell: newest (first) wins
        record("RTE", 13, float("nan")),  # no metric: ignored
    ]
    return pd.DataFrame(rows)


def test_cells_are_mean_and_sample_std_over_seeds(runs):
    table = comparison_table(runs)
    assert list(table.columns) == [*ROW_KEYS, "MRPC", "SST-2", AVERAGE, VERSUS]
    paired = table[table["strategy"] == "paired"].iloc[0]
    assert paired["SST-2"] == "85.0 ± 7.1"  # std([80, 90], ddof=1) = 7.07
    assert paired["MRPC"] == "65.0 ± 7.1"
    # per seed: (80+60)/2 = 70, (90+70)/2 = 80 -> 75 ± 7.1
    assert paired[AVERAGE] == "75.0 ± 7.1"
    real = table[table["strategy"] == "real_only"].iloc[0]
    cells = (real["SST-2"], real["MRPC"], real[AVERAGE])
    assert cells == ("72.0 ± 2.8", "50.0 ± 0.0", "61.0 ± 1.4")
    # paired minus real_only on each (task, seed): 80-70, 90-74, 60-50, 70-50 -> +14.0
    assert (paired[VERSUS], real[VERSUS]) == ("+14.0 (n=4)", "")


def test_gains_over_real_only_pair_runs_of_the_same_task_seed_and_setting():
    """The gain column compares like with like: the same task and seed, against the plain
    real_only run of the same extra setting (here the step budget); SPT is not a baseline."""
    steps = "prompt_tuning.max_steps"
    runs = pd.DataFrame(
        [
            record("SST-2", 13, 80.0, **{steps: "200"}),
            record("SST-2", 21, 90.0, **{steps: "200"}),
            record("SST-2", 13, 85.0, **{steps: "800"}),
            record("SST-2", 87, 99.0, **{steps: "800"}),  # no baseline on seed 87
            record("SST-2", 13, 70.0, strategy="real_only", surgery="False", **{steps: "200"}),
            record("SST-2", 21, 80.0, strategy="real_only", surgery="False", **{steps: "200"}),
            record("SST-2", 13, 71.0, strategy="real_only", surgery="False", **{steps: "800"}),
            record(
                "SST-2", 13, 73.0, strategy="real_only", surgery="False",
                **{steps: "200", "prompt_tuning.prompt.scale": "token"},
            ),
        ]
    )  # fmt: skip
    gains = baseline_gains(runs).set_index(["strategy", "spt", steps])
    assert gains.loc[("paired", "none", "200"), ["gain", "pairs"]].tolist() == [10.0, 2]
    assert gains.loc[("paired", "none", "800"), ["gain", "pairs"]].tolist() == [14.0, 1]
    assert gains.loc[("real_only", "token", "200"), ["gain", "pairs"]].tolist() == [3.0, 1]
    assert ("real_only", "none", "200") not in gains.index
    table = comparison_table(runs).set_index(["strategy", "spt", steps])
    assert table.loc[("paired", "none", "800"), VERSUS] == "+14.0 (n=1)"
    assert table.loc[("real_only", "none", "800"), VERSUS] == ""
    assert VERSUS not in comparison_table(runs[runs["prompt_tuning.strategy"] == "paired"])


def test_row_labels_name_generator_surgery_reweighting_and_spt(runs):
    table = comparison_table(runs).set_index("strategy")
    assert table.loc["paired", ["generator", "surgery", "reweighting", "spt"]].tolist() == [
        "fewgen (imported)",
        "on",
        "off",  # reweighting means SynAlign's MMD weights, which these runs did not learn
        "none",
    ]
    assert table.loc["real_only", ["generator", "surgery", "reweighting"]].tolist() == [
        "none",
        "off",
        "off",
    ]


def test_missing_params_mean_none_or_off_and_generator_params_are_read():
    bare = describe_variant(pd.Series({"prompt_tuning.strategy": "real+syn"}))
    assert bare == {
        "strategy": "real+syn",
        "generator": "none",
        "surgery": "off",
        "reweighting": "off",
        "spt": "none",
    }
    full = describe_variant(
        pd.Series(
            {
                "prompt_tuning.strategy": "paired",
                "prompt_tuning.surgery": "True",
                "prompt_tuning.use_weights": "False",
                "prompt_tuning.prompt.scale": "dim",
                "generator.mode": "softsrv",
                "generator.softsrv_variant": "ssmc",
            }
        )
    )
    assert full == {
        "strategy": "paired",
        "generator": "softsrv-ssmc",
        "surgery": "on",
        "reweighting": "off",
        "spt": "dim",
    }
    mmd = describe_variant(
        pd.Series({"prompt_tuning.strategy": "paired", "alignment.reweight.enabled": "True"})
    )
    assert mmd["reweighting"] == "mmd"


def test_a_row_without_every_task_has_no_average_and_one_seed_has_no_std():
    runs = pd.DataFrame(
        [
            record("SST-2", 13, 80.0),
            record("MRPC", 13, 60.0),
            record("SST-2", 13, 55.5, strategy="syn_only", surgery="False"),
        ]
    )
    table = comparison_table(runs).set_index("strategy")
    assert table.loc["paired", AVERAGE] == "70.0"
    assert table.loc["syn_only", "SST-2"] == "55.5"
    assert table.loc["syn_only", "MRPC"] == "" and table.loc["syn_only", AVERAGE] == ""
    counts = summarize(runs).set_index(["strategy", "task"])["count"]
    assert counts[("paired", AVERAGE)] == 1


def test_format_cell_and_bad_input():
    assert format_cell(71.234, 3.456) == "71.2 ± 3.5"
    assert format_cell(71.234, float("nan"), digits=2) == "71.23"
    with pytest.raises(ValueError, match="data.seed"):
        comparison_table(pd.DataFrame([{"data.task": "SST-2", "test_accuracy": 1.0}]))


def test_bar_chart_is_written(runs, tmp_path):
    path = plot_comparison(runs, tmp_path / "comparison.png")
    assert path.stat().st_size > 1000


def test_weighted_and_unweighted_runs_stay_two_rows_as_mlflow_logs_booleans():
    mmd = {"alignment.reweight.enabled": "True", "alignment.reweight.use": "loss_weights"}
    runs = pd.DataFrame(
        [
            record("SST-2", 13, 80.0, **{**mmd, "prompt_tuning.use_weights": "True"}),
            record("SST-2", 13, 60.0, **{**mmd, "prompt_tuning.use_weights": "False"}),
        ]
    )
    table = comparison_table(runs).set_index("reweighting")
    assert table.loc["mmd (loss_weights)", "SST-2"] == "80.0"
    assert table.loc["off", "SST-2"] == "60.0"


def test_runs_differing_in_another_setting_get_a_column_instead_of_hiding_each_other():
    minilm = {"backbone.model": "minilm", "prompt_tuning.eval_batch_size": "64"}
    t5 = {"backbone.model": "t5-large", "prompt_tuning.eval_batch_size": "64"}
    runs = pd.DataFrame(
        [
            record("SST-2", 13, 85.0, **t5),
            record("SST-2", 13, 60.0, **minilm),
            # differs from the newest minilm run only in an operational knob: a repeat
            record("SST-2", 13, 10.0, **{**minilm, "prompt_tuning.eval_batch_size": "8"}),
        ]
    )
    table = comparison_table(runs)
    assert list(table.columns) == [*ROW_KEYS, "backbone.model", "SST-2", AVERAGE]
    assert table.set_index("backbone.model")["SST-2"].to_dict() == {
        "t5-large": "85.0",
        "minilm": "60.0",
    }


def test_synalign_generated_rows_are_named_in_the_generator_column():
    base = {"prompt_tuning.strategy": "paired", "alignment.generation.enabled": "True"}
    alone = describe_variant(pd.Series(base))
    joined = describe_variant(pd.Series({**base, "data.synthetic.format": "fewgen"}))
    assert (alone["generator"], joined["generator"]) == ("synalign", "fewgen (imported)+synalign")
    loss = describe_variant(
        pd.Series(
            {**base, "alignment.reweight.enabled": "True", "alignment.reweight.use": "loss_weights"}
        )
    )
    assert loss["reweighting"] == "mmd (loss_weights)"


def test_a_cell_with_fewer_seeds_than_the_others_says_how_many(runs):
    table = comparison_table(runs.drop(index=[0, 8])).set_index("strategy")  # no paired SST-2 13
    assert table.loc["paired", "SST-2"] == "90.0 (n=1)"
    assert table.loc["paired", "MRPC"] == "65.0 ± 7.1"


def test_data_locations_and_a_baselines_unused_settings_never_split_rows():
    """Paths differ per seed (16-13/, 16-21/) and real_only ignores the synthetic side:
    a re-run that differs there must not break the table into one row per seed."""
    rows = []
    for seed, acc in ((13, 80.0), (21, 90.0)):
        path = {"data.train.path": f"lm-bff/SST-2/16-{seed}/train.tsv"}
        rows.append(record("SST-2", seed, acc, **path))
        rows.append(
            record("SST-2", seed, acc - 20, strategy="real_only", surgery="False", **path,
                   **{"data.synthetic_root": f"fewgen-v{seed}"})
        )  # fmt: skip
    rerun = record("SST-2", 13, 82.0, **{"data.train.path": "./lm-bff/SST-2/16-13/train.tsv"})
    baseline = record("SST-2", 21, 74.0, strategy="real_only", surgery="False",
                      **{"prompt_tuning.syn_coef": "0.5"})  # fmt: skip
    table = comparison_table(pd.DataFrame([rerun, baseline, *rows])).set_index("strategy")
    assert list(table.columns) == [*ROW_KEYS[1:], "SST-2", AVERAGE, VERSUS]
    assert table.loc["paired", "SST-2"] == "86.0 ± 5.7"  # the re-runs replaced their seeds
    assert table.loc["real_only", "SST-2"] == "67.0 ± 9.9"
    assert table.loc["paired", VERSUS] == "+19.0 (n=2)"  # 82 - 60 and 90 - 74, seed by seed


def test_the_zero_shot_baseline_every_run_measured_is_the_first_row(runs):
    runs = runs.assign(zero_shot_test_accuracy=[50.0, 52.0, 40.0, 44.0] * 2 + [50.0, None])
    runs.loc[0, "prompt_tuning.prompt.scale"] = "token"  # an SPT run's baseline is the same
    table = comparison_table(runs)
    zero = table.iloc[0]
    assert (zero["strategy"], zero["generator"], zero["spt"]) == ("zero_shot", "none", "none")
    assert (zero["SST-2"], zero["MRPC"], zero[AVERAGE]) == (
        "51.0 ± 1.4",
        "42.0 ± 2.8",
        "46.5 ± 2.1",
    )
    assert (table["strategy"] == "zero_shot").sum() == 1
    paired = table[table["strategy"] == "paired"]
    assert len(paired) == 2 and list(paired["spt"]) == ["token", "none"]
    assert (
        "zero_shot"
        not in comparison_table(runs, metric="test_accuracy_x" * 0 + "test_accuracy").columns
    )


def test_the_task_metric_table_names_each_tasks_metric(runs):
    """LM-BFF's table: MRPC by F1, SST-2 by accuracy, a task of your own by its spec's."""
    own = record("news", 13, 40.0, **{"data.task_spec.metric": "mcc"})
    runs = pd.concat([runs, pd.DataFrame([own])], ignore_index=True)
    runs[TASK_METRIC] = runs["test_accuracy"] - 5.0  # stands in for F1 on MRPC
    runs["zero_shot_" + TASK_METRIC] = 30.0
    table = comparison_table(runs, metric=TASK_METRIC)
    tasks = ["MRPC (f1)", "RTE (accuracy)", "SST-2 (accuracy)", "news (mcc)", AVERAGE]
    assert list(table.columns) == [*ROW_KEYS, *tasks, VERSUS]  # RTE: its zero-shot alone
    paired = table[table["strategy"] == "paired"].iloc[0]
    assert (paired["MRPC (f1)"], paired["SST-2 (accuracy)"]) == ("60.0 ± 7.1", "80.0 ± 7.1")
    assert table.iloc[0]["strategy"] == "zero_shot"
    assert list(comparison_table(runs).columns)[-5:] == ["MRPC", "SST-2", "news", AVERAGE, VERSUS]


def test_rows_varying_a_synthetic_side_setting_still_gain_over_real_only():
    """An ablation over syn_coef splits the paired rows by it; real_only never uses it (its
    value is blank), so every paired row still pairs with the same real_only runs."""
    coef = "prompt_tuning.syn_coef"
    runs = pd.DataFrame(
        [
            record("SST-2", 13, 80.0, **{coef: "0.5"}),
            record("SST-2", 13, 85.0, **{coef: "1.0"}),
            record("SST-2", 13, 70.0, strategy="real_only", surgery="False", **{coef: "1.0"}),
        ]
    )
    gains = baseline_gains(runs).set_index(["strategy", coef])
    assert gains.loc[("paired", "0.5"), ["gain", "pairs"]].tolist() == [10.0, 1]
    assert gains.loc[("paired", "1.0"), ["gain", "pairs"]].tolist() == [15.0, 1]
    table = comparison_table(runs).set_index(["strategy", coef])
    assert table.loc[("paired", "0.5"), VERSUS] == "+10.0 (n=1)"


def test_a_setting_only_the_paired_step_reads_never_splits_another_strategy():
    """real+syn ignores surgery and syn_coef: a CLI run (surgery on by default) and a grid
    run (surgery off) of it are repeats, the newest wins, and no extra column appears."""
    runs = pd.DataFrame(
        [
            record("SST-2", 13, 80.0, strategy="real+syn", **{"prompt_tuning.syn_coef": "0.5"}),
            record("SST-2", 13, 10.0, strategy="real+syn", surgery="False"),
            record("SST-2", 21, 70.0, strategy="real+syn", surgery="False"),
        ]
    )
    table = comparison_table(runs)
    assert list(table.columns) == [*ROW_KEYS, "SST-2", AVERAGE]
    assert table["SST-2"].tolist() == ["75.0 ± 7.1"]
