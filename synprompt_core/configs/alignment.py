"""Stage 3: SynAlign — demonstration selection, attribute-guided generation, MMD reweighting."""

from __future__ import annotations

import urllib.parse
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from synprompt_core.configs.base import StageConfig


class EmbeddingConfig(StageConfig):
    """Sentence encoder used for clustering, the GP tracker and MMD."""

    encoder: str = Field(
        default="minilm",
        description="'minilm' (the bundled all-MiniLM-L6-v2) or any Hugging Face encoder "
        "hub id or local folder",
    )
    max_length: int = Field(default=128, ge=8, le=4096, description="Tokens per text, truncated")
    normalize: bool = Field(default=True, description="L2-normalise each embedding")
    batch_size: int = Field(default=64, ge=1, description="Texts per forward pass (not cached)")
    device: str = Field(default="cpu", description="'cpu', 'cuda', 'cuda:N' or 'auto'")


class SelectionConfig(StageConfig):
    """GP-uncertainty selection of demonstration clusters from the real pool."""

    enabled: bool = Field(
        default=True,
        description="Select demonstrations by GP uncertainty; they feed the generation step "
        "(without it, the picks are only logged for inspection)",
    )
    n_clusters: int | None = Field(
        default=8,
        ge=1,
        description="KMeans clusters per label; None makes every real row its own cluster",
    )
    budget: int = Field(default=8, ge=1, description="Clusters to choose, over all labels")
    per_label: Literal["average", "proportion"] = Field(
        default="average",
        description="average: equal budget per label; proportion: by label frequency",
    )
    length_scale: float = Field(
        default=1.0, gt=0, description="RBF length scale of the GP over cluster centroids"
    )
    noise: float = Field(default=1e-6, ge=0, description="Jitter added to the GP kernel diagonal")
    seed: int = Field(default=42, ge=0, description="Seed for KMeans and the first, random pick")


class GenerationLLMConfig(StageConfig):
    """Latent-attribute generation: which LLM and how much to ask of it."""

    # a refused base_url may hold a credential: errors never repeat the value given
    model_config = ConfigDict(**StageConfig.model_config, hide_input_in_errors=True)

    enabled: bool = Field(
        default=False,
        description="Generate synthetic rows from the chosen demonstrations; they join the "
        "synthetic set, or become it when none is imported/generated",
    )
    backend: Literal["hf", "openai"] = Field(
        default="hf", description="hf: a local causal LM; openai: an OpenAI-compatible endpoint"
    )
    model: str = Field(
        default="",
        description="HF hub id or folder (hf) or the served model name (openai)",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000", description="Endpoint root; /v1/chat/completions is added"
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable holding the key (the key itself is never "
        "part of the config)",
    )
    api_key_secret: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Name of a Prefect Secret block holding the key, read when the stage runs "
        "(wins over api_key_env; the key itself is never part of the config)",
    )
    examples_per_prompt: int = Field(default=10, ge=1, description="New examples asked per call")
    prompts_per_cluster: int = Field(default=1, ge=1, description="Stage-B calls per cluster")
    demos_per_cluster: int = Field(
        default=4, ge=1, description="Cluster members shown to the LLM in the attribute prompt"
    )
    max_new_tokens: int = Field(default=512, ge=1, description="Token limit per completion")
    temperature: float = Field(default=0.9, ge=0, description="Sampling temperature (0: greedy)")
    timeout_s: float = Field(default=60.0, gt=0, description="HTTP timeout per request")
    max_retries: int = Field(default=4, ge=0, description="HTTP retries on 429/5xx/connection")
    backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each time")
    seed: int = Field(default=42, ge=0, description="Base seed; call i uses seed + i")

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        if urllib.parse.urlsplit(url).username is not None:  # user[:password]@
            raise ValueError(
                "base_url carries credentials (a user or token before '@'), which would be "
                "stored with every run's parameters: drop them from the URL and give the key "
                "by api_key_env or api_key_secret"
            )
        return url


class ReweightConfig(StageConfig):
    """MMD reweighting of the synthetic set against the real one."""

    enabled: bool = Field(default=True, description="Learn a weight per synthetic example")
    solver: Literal["auto", "exact", "rff"] = Field(
        default="auto",
        description="exact: full kernel QP; rff: random Fourier features, linear in rows; "
        "auto: exact up to exact_max_rows synthetic rows, else rff",
    )
    exact_max_rows: int = Field(
        default=5000, ge=1, description="Largest synthetic set solved exactly under 'auto'"
    )
    bandwidth: Literal["median", "multi"] = Field(
        default="median",
        description="median: one RBF at the median pairwise distance; multi: the average of "
        "RBFs at median x each multiplier",
    )
    multipliers: tuple[float, ...] = Field(
        default=(0.5, 1.0, 2.0), description="Bandwidth multipliers for 'multi'"
    )
    standardize: bool = Field(
        default=True, description="Standardise embeddings with the real set's mean and std"
    )
    n_features: int = Field(default=512, ge=16, description="Random Fourier features (rff)")
    steps: int = Field(default=500, ge=1, description="Optimiser iterations at most")
    tol: float = Field(
        default=1e-7, ge=0, description="Stop when the objective improves less than this"
    )
    max_weight: float | None = Field(
        default=10.0,
        ge=1,
        description="Box bound of kernel mean matching: no row weighs more than max_weight/n "
        "(so the effective sample size stays >= n/max_weight); null = unbounded simplex",
    )
    by_label: bool = Field(
        default=True,
        description="Match each label's synthetic rows to that label's real rows and keep "
        "every label's share of the total weight (class-conditional MMD); off: one MMD over "
        "all rows, which can shift the label balance of the synthetic set",
    )
    target: Literal["train", "train+dev"] = Field(
        default="train+dev",
        description="The real rows the synthetic set is matched to: the few-shot train "
        "split, or train and dev together (twice the rows for the same labelled budget, "
        "so a steadier MMD estimate; dev stays unseen by the prompt's gradients)",
    )
    use: Literal["loss_weights", "resample"] = Field(
        default="resample",
        description="resample: draw the synthetic rows by weight (SynAlign's sampling "
        "weights; every batch slot holds a row that counts); loss_weights: keep every row "
        "with a per-example loss weight (mean 1)",
    )
    seed: int = Field(default=42, ge=0, description="Seed for RFF frequencies and subsampling")

    @property
    def target_splits(self) -> tuple[str, ...]:
        """The real splits the synthetic set is matched to, in order."""
        return ("train", "dev") if self.target == "train+dev" else ("train",)

    @model_validator(mode="after")
    def _check_multipliers(self) -> ReweightConfig:
        if not self.multipliers or any(m <= 0 for m in self.multipliers):
            raise ValueError(f"multipliers must be non-empty and positive, got {self.multipliers}")
        return self


class AlignmentConfig(StageConfig):
    """SynAlign (Ren et al., 2025): select, generate with attributes, reweight by MMD."""

    embedding: EmbeddingConfig = Field(
        default_factory=EmbeddingConfig, description="Sentence encoder for all three steps"
    )
    selection: SelectionConfig = Field(
        default_factory=SelectionConfig, description="GP-uncertainty demonstration selection"
    )
    generation: GenerationLLMConfig = Field(
        default_factory=GenerationLLMConfig, description="Latent-attribute generation LLM"
    )
    reweight: ReweightConfig = Field(
        default_factory=ReweightConfig, description="MMD reweighting of the synthetic set"
    )

    @model_validator(mode="after")
    def _check_generation(self) -> AlignmentConfig:
        generation = self.generation
        if generation.enabled and not self.selection.enabled:
            raise ValueError(
                "alignment.generation needs alignment.selection: it writes from the chosen "
                "demonstrations (enable selection, or disable generation)"
            )
        if generation.enabled and not generation.model.strip():
            what = {"hf": "a hub id or local folder", "openai": "the served model name"}
            raise ValueError(
                "alignment.generation.model is required when generation is enabled "
                f"(backend {generation.backend!r}: {what[generation.backend]})"
            )
        return self
