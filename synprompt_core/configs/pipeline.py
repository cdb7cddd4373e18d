"""``PipelineConfig``: every stage's config composed; the pipeline flow's only parameter."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from synprompt_core.configs.alignment import AlignmentConfig
from synprompt_core.configs.backbone import BackboneConfig
from synprompt_core.configs.base import StageConfig
from synprompt_core.configs.data import DataConfig
from synprompt_core.configs.generator import GenerationConfig, GeneratorConfig
from synprompt_core.configs.prompt_tuning import PromptTuningConfig


class TrackingConfig(StageConfig):
    """Where results go. Defaults: a local MLflow store and outputs in the working folder."""

    # a refused URI may hold a credential: errors never repeat the value given
    model_config = ConfigDict(**StageConfig.model_config, hide_input_in_errors=True)

    experiment: str = Field(default="synprompt", description="MLflow experiment name")
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; default: $MLFLOW_TRACKING_URI or "
        "sqlite:///<output_dir>/mlflow.db",
    )
    output_dir: str = Field(
        default=".synprompt", description="Folder for stage outputs, caches and checkpoints"
    )
    run_name: str | None = Field(default=None, description="Name of the MLflow parent run")

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        if uri and urllib.parse.urlsplit(uri).username is not None:  # user[:password]@
            raise ValueError(
                "tracking_uri carries credentials (a user or token before '@'), which would "
                "be stored with every run's "
                "parameters: drop it from the URI and set MLFLOW_TRACKING_USERNAME / "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment"
            )
        return uri


class PipelineConfig(StageConfig):
    """The whole pipeline: data -> [generator -> generation -> alignment] -> prompt tuning."""

    # its error text never repeats a value given (a tracking URI may hold a credential)
    model_config = ConfigDict(**StageConfig.model_config, hide_input_in_errors=True)

    name: str = Field(default="synprompt", description="A short name for this pipeline run")
    data: DataConfig = Field(description="Task, real few-shot splits and synthetic set")
    backbone: BackboneConfig = Field(
        default_factory=BackboneConfig, description="Frozen classifier LM"
    )
    generator: GeneratorConfig | None = Field(
        default=None, description="Stage 1: tune a generator (DawGen/FewGen/SoftSRV); off if unset"
    )
    generation: GenerationConfig | None = Field(
        default=None, description="Stage 2: sample a synthetic set from the tuned generator"
    )
    alignment: AlignmentConfig | None = Field(
        default=None,
        description="Stage 3: SynAlign demonstration selection / latent-attribute generation / "
        "MMD reweighting",
    )
    prompt_tuning: PromptTuningConfig = Field(
        default_factory=PromptTuningConfig, description="Stage 4: soft-prompt tuning"
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Tracking")
    zero_shot_baseline: bool = Field(
        default=True, description="Also score the test split with no prompt, for comparison"
    )

    @model_validator(mode="after")
    def _check_task_and_sources(self) -> PipelineConfig:
        if self.generator is not None and self.data.synthetic_source() is not None:
            raise ValueError(
                "set either a synthetic set to import (data.synthetic / data.synthetic_root) "
                "or a generator, not both"
            )
        if (self.generator is None) != (self.generation is None):
            raise ValueError("generator and generation go together: set both or neither")
        if self.prompt_tuning.strategy != "real_only" and not self.has_synthetic_source():
            raise ValueError(
                f"prompt_tuning.strategy={self.prompt_tuning.strategy!r} needs synthetic data: "
                "set data.synthetic or data.synthetic_root, a generator, or "
                "alignment.selection.enabled with alignment.generation.enabled"
            )
        align = self.alignment
        if (
            not self.prompt_tuning.use_weights
            and align is not None
            and align.reweight.enabled
            and align.reweight.use == "resample"
        ):
            raise ValueError(
                "prompt_tuning.use_weights=false has no effect with alignment.reweight.use="
                "'resample' (the synthetic rows are already drawn by their MMD weights): set "
                "alignment.reweight.enabled=false to train without reweighting, or "
                "alignment.reweight.use='loss_weights'"
            )
        penalty = self.generation.repetition_penalty if self.generation else None
        labels = self.data.spec.num_labels
        if isinstance(penalty, list) and len(penalty) != labels:
            raise ValueError(
                f"generation.repetition_penalty lists {len(penalty)} values for the {labels} "
                f"labels of {self.data.task}: give one per label, or a single number"
            )
        return self

    def has_synthetic_source(self) -> bool:
        """An imported set, a tuned generator, or SynAlign generating from demonstrations."""
        return (
            self.data.synthetic_source() is not None
            or self.generator is not None
            or self.synthesizes_from_demonstrations()
        )

    def synthesizes_from_demonstrations(self) -> bool:
        """SynAlign Sec. 3.3 runs: demonstrations are chosen and the LLM generates from them."""
        align = self.alignment
        return align is not None and align.selection.enabled and align.generation.enabled


class ConfigError(ValueError):
    """A config file that cannot be read or does not validate; the message names both."""


def load_config(path: str | Path, *, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read a YAML config into a ``PipelineConfig``, with one clear error on bad input."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    for dotted, value in (overrides or {}).items():
        try:
            _set_dotted(raw, dotted, value)
        except (TypeError, AttributeError):
            raise ConfigError(f"{path}: cannot set {dotted}: a parent is not a section") from None
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: {_describe(err)}") from None


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


UNECHOED = {"tracking_uri", "base_url"}  # fields whose bad value may hold a credential


def _describe(err: ValidationError, root: type | None = None) -> str:
    """One line per error: the dotted field, what is wrong, the value given (never for a
    field that may hold a credential); ``root`` is the model the locations start from."""
    parts = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"])
        value = item.get("input")
        secret = item["loc"] and item["loc"][-1] in UNECHOED
        shown = "" if isinstance(value, dict) or secret else f" (got {value!r})"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            parts.append(f"field '{where}': {_unknown_field(item['loc'], root)}")
            continue
        # a check across sections (strategy vs data) has no one field: its message says it
        parts.append(f"field '{where}': {message}{shown}" if where else message)
    return "; ".join(parts)


def _unknown_field(loc: tuple, root: type | None) -> str:
    """'unknown field; did you mean 'length'?' or the section's field names."""
    import difflib

    known = _field_names(loc[:-1], root or PipelineConfig)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown field; did you mean '{close[0]}'?"
    return "unknown field" + (f"; this section has: {', '.join(known)}" if known else "")


def _field_names(loc: tuple, root: type) -> list[str]:
    """The field names of the config section at ``loc`` under ``root`` (``()``: its own)."""
    model: Any = root
    for key in loc:
        if isinstance(key, int):  # an item of a list: its model is already in hand
            continue
        field = getattr(model, "model_fields", {}).get(key)
        if field is None:
            return []
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        model = next((c for c in candidates if hasattr(c, "model_fields")), None)
        if model is None:
            return []
    return list(model.model_fields)
