"""``AblationConfig``: a base pipeline crossed with tasks x seeds x strategy variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from synprompt_core.configs.base import StageConfig
from synprompt_core.configs.pipeline import ConfigError, PipelineConfig, _describe
from synprompt_core.configs.prompt_tuning import Strategy


class StrategyVariant(StageConfig):
    """One row of the ablation table: how real and synthetic data are combined."""

    strategy: Strategy = Field(default="paired", description="Data combination strategy")
    surgery: bool = Field(default=True, description="Gradient surgery (paired strategy)")
    scale: Literal["none", "token", "dim"] = Field(default="none", description="SPT scaling")
    use_weights: bool = Field(default=True, description="Weight synthetic rows (reweighting)")

    def label(self) -> str:
        """A short name, e.g. ``paired+surgery+spt-dim``."""
        name = self.strategy + ("+surgery" if self.surgery and self.strategy == "paired" else "")
        name += f"+spt-{self.scale}" if self.scale != "none" else ""
        return name + ("" if self.use_weights or self.strategy == "real_only" else "-noweights")


class AblationConfig(StageConfig):
    """A grid of pipeline runs, fanned out through a Prefect task runner."""

    model_config = ConfigDict(**StageConfig.model_config, hide_input_in_errors=True)

    name: str = Field(default="ablation", description="Prefix of every grid cell's run name")
    base: PipelineConfig = Field(description="The pipeline every grid cell starts from")
    tasks: list[str] = Field(
        default_factory=list, description="Tasks to run (empty: the base config's task)"
    )
    seeds: list[int] = Field(
        default_factory=list, description="Data seeds (empty: the base config's seed)"
    )
    variants: list[StrategyVariant] = Field(
        default_factory=lambda: [StrategyVariant()], min_length=1, description="Table rows"
    )
    runner: Literal["local", "dask"] = Field(
        default="local", description="local: threads in this process; dask: a Dask cluster"
    )
    dask_address: str | None = Field(
        default=None, description="Scheduler address (tcp://host:8786); none: a LocalCluster"
    )
    dask_workers: int = Field(default=2, ge=1, description="LocalCluster worker processes")
    max_workers: int = Field(default=2, ge=1, description="Threads of the local runner")
    device_slots: int = Field(
        default=1, ge=1, description="Grid cells that may compute on one device at a time"
    )
    metric: Literal["test_task_metric", "test_accuracy", "test_macro_f1", "test_f1", "test_mcc"] = (
        Field(
            default="test_task_metric",
            description="The table's cells: each task by its own metric (LM-BFF: F1 for MRPC and "
            "QQP, MCC for CoLA, accuracy elsewhere), or one metric for all",
        )
    )

    @model_validator(mode="after")
    def _check_grid(self) -> AblationConfig:
        if self.tasks and self.base.data.task_spec is not None:
            raise ValueError(
                "tasks cannot be listed for a base with data.task_spec (your own task): "
                "drop `tasks` to run it, or drop task_spec to grid over registry tasks"
            )
        try:
            self.expand()  # every cell must be a valid pipeline
        except ValidationError as err:
            raise ValueError(f"a grid cell is not a valid pipeline: {_describe(err)}") from None
        labels = [v.label() for v in self.variants]
        if len(set(labels)) != len(labels):
            raise ValueError(f"variants repeat a row: {labels}")
        if len(set(self.seeds)) > 1 and not self.base.data.reads_seed:
            raise ValueError(
                f"seeds {self.seeds} would repeat one run: a seed picks the k-shot draw "
                "(data_root / synthetic_root k-<seed> folders, or data.sample_k_shot), and "
                "this grid's data are fixed files; use one seed, or set data.sample_k_shot"
            )
        return self

    def expand(self) -> list[PipelineConfig]:
        """Every grid cell as a full ``PipelineConfig`` (tasks x seeds x variants)."""
        base = self.base.model_dump(mode="json")
        cells = []
        for task in self.tasks or [self.base.data.task]:
            for seed in self.seeds or [self.base.data.seed]:
                for variant in self.variants:
                    cells.append(self._cell(base, task, seed, variant))
        return cells

    def _cell(self, base: dict, task: str, seed: int, variant: StrategyVariant) -> PipelineConfig:
        raw: dict[str, Any] = {**base, "name": self.name}
        raw["data"] = {**base["data"], "task": task, "seed": seed}
        tuning = dict(base["prompt_tuning"])
        tuning.update(
            strategy=variant.strategy, surgery=variant.surgery, use_weights=variant.use_weights
        )
        tuning["prompt"] = {**tuning["prompt"], "scale": variant.scale}
        raw["prompt_tuning"] = tuning
        run_name = f"{self.name}-{task}-{seed}-{variant.label()}"
        raw["tracking"] = {**base["tracking"], "run_name": run_name}
        return PipelineConfig.model_validate(raw)


def load_ablation(path: str | Path) -> AblationConfig:
    """Read a YAML ablation grid, with one clear error naming the bad field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
        return AblationConfig.model_validate(raw)
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    except ValidationError as err:
        raise ConfigError(f"{path}: {_describe(err, AblationConfig)}") from None
