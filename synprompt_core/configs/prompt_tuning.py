"""Stage 4: soft prompt (optionally SPT-scaled) trained on real + synthetic data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from synprompt_core.configs.base import StageConfig

Strategy = Literal["real_only", "syn_only", "real+syn", "real->syn", "syn->real", "paired"]


class SoftPromptConfig(StageConfig):
    """Shape, initialisation and SPT scaling of a soft prompt."""

    length: int = Field(default=20, ge=1, le=512, description="Number of soft tokens N")
    init: Literal["random", "vocab", "text", "labels"] = Field(
        default="vocab",
        description="random: uniform; vocab: rows of sampled vocabulary tokens; text: the "
        "embeddings of init_text (tiled); labels: the embeddings of the verbalizer words",
    )
    init_text: str | None = Field(default=None, description="Text for init='text'")
    init_range: float = Field(default=0.5, gt=0, description="U(-r, r) range for init='random'")
    scale: Literal["none", "token", "dim"] = Field(
        default="none",
        description="SPT scaling vector on the prompt: none, one per token, or one per dimension",
    )


class PromptTuningConfig(StageConfig):
    """Algorithm 2 of DawGen: how real and synthetic data are combined and stepped."""

    prompt: SoftPromptConfig = Field(
        default_factory=SoftPromptConfig,
        description="The soft prompt P: length, initialisation, SPT scaling",
    )
    strategy: Strategy = Field(default="paired", description="Data combination strategy")
    surgery: bool = Field(
        default=True, description="Project a conflicting synthetic gradient off the real one"
    )
    syn_coef: float = Field(
        default=1.0, ge=0, description="eps in g = g_real + eps * g_syn' (paired strategy)"
    )
    use_weights: bool = Field(
        default=True, description="Weight synthetic rows by their `weight` column (SynAlign)"
    )
    label_smoothing: float = Field(default=0.0, ge=0, lt=1, description="CE label smoothing")
    lr: float = Field(
        default=0.3,
        gt=0,
        description="AdamW learning rate, relative: the prompt's step is lr x the RMS of the "
        "backbone's input embeddings (as Adafactor's relative step in Lester et al.), so one "
        "value suits models whose embedding scales differ by 100x; the SPT scale uses lr/10",
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay")
    batch_size: int = Field(default=8, ge=1, description="Rows per batch (per side if paired)")
    max_steps: int = Field(default=250, ge=1, description="Optimiser steps in total")
    eval_every: int = Field(default=25, ge=1, description="Evaluate on dev every N steps")
    patience: int = Field(
        default=6, ge=0, description="Stop after N evaluations without dev gain (0: never)"
    )
    eval_batch_size: int = Field(default=64, ge=1, description="Rows per evaluation batch")
    seed: int = Field(default=42, ge=0, description="Seed for init, shuffling and sampling")
    checkpoint_every: int = Field(
        default=50, ge=1, description="Write a resumable checkpoint every N steps"
    )
