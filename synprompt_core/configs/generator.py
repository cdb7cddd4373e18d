"""Stages 1-2: generator tuning (DawGen, FewGen, plain prompt, SoftSRV) and generation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from synprompt_core.configs.base import StageConfig
from synprompt_core.configs.prompt_tuning import SoftPromptConfig

GeneratorMode = Literal["prompt", "fewgen", "dawgen", "softsrv"]
SoftSRVVariant = Literal["ssnp", "ssmp", "ssmc"]

# How each bi-level mode's paper weights tokens: what an ``auto`` weighting field means.
PAPER_WEIGHTING = {
    "fewgen": {
        "weight_input": "disc_loss",
        "weight_norm": "batch_softmax",
        "disc_form": "log_share",
    },
    "dawgen": {"weight_input": "hidden", "weight_norm": "softmax", "disc_form": "share"},
}


class GeneratorConfig(StageConfig):
    """How the frozen generator LM is steered toward the task (stage 1)."""

    model: str = Field(
        default="gpt2",
        description="Hugging Face hub id or local folder of any causal LM (the frozen generator)",
    )
    mode: GeneratorMode = Field(
        default="dawgen",
        description="prompt: one soft prompt per label, LM loss; fewgen: token-weighted loss "
        "with a discriminative meta-objective; dawgen: fewgen + L_dist margin regulariser "
        "(DawGen Alg. 1); softsrv: contextual prompt P(E(x)) trained by reconstruction",
    )
    softsrv_variant: SoftSRVVariant = Field(
        default="ssmc",
        description="softsrv only. ssnp: non-contextual prompt per label; ssmp: mixture of "
        "prompts with context-dependent softmax weights; ssmc: MLP from E(x) to the prompt",
    )
    prompt: SoftPromptConfig = Field(
        default_factory=SoftPromptConfig,
        description="Shape, init and SPT scaling of each label's prompt Q_l",
    )
    init_words: Literal["meanings", "verbalizers"] = Field(
        default="meanings",
        description="Word that seeds each label's prompt (init text/labels): the task's label "
        "meaning (e.g. 'positive') or its verbalizer (e.g. 'great')",
    )
    lr: float = Field(
        default=0.3, gt=0, description="Adam learning rate of the prompts (and SoftSRV nets)"
    )
    lr_scale: Literal["embedding_rms", "absolute"] = Field(
        default="embedding_rms",
        description="embedding_rms: lr is in units of the generator's input-embedding RMS, so "
        "one default fits models whose embeddings differ in scale; absolute: lr as given",
    )
    lookahead: Literal["matched", "sgd"] = Field(
        default="matched",
        description="Size of the differentiable look-ahead Q' = Q - a * grad of the "
        "fewgen/dawgen meta-step. matched: a is set each step so that Q moves lookahead_lr "
        "times as far (per-coordinate RMS) as the real prompt step, the region the "
        "first-order hyper-gradient describes, on any model's embedding scale; sgd: "
        "a = lookahead_lr",
    )
    lookahead_lr: float = Field(
        default=1.0,
        gt=0,
        description="matched: the look-ahead's length in real prompt steps; sgd: its step size",
    )
    steps: int = Field(default=200, ge=1, description="Training steps in total")
    batch_size: int = Field(default=16, ge=1, description="Real examples per step")
    max_length: int = Field(
        default=64, ge=4, description="Max tokens of an example's text kept for training"
    )
    weight_lr: float = Field(
        default=0.001,
        gt=0,
        description="Adam learning rate of weight net W. Adam moves a linear W by about this "
        "much per coordinate each step, so its scores grow with the step count; too high and "
        "the token weights collapse onto a few tokens (watch weight_entropy_norm)",
    )
    weight_hidden: int = Field(
        default=0, ge=0, description="Hidden width of weight net W (0: linear map R^d -> R)"
    )
    weight_input: Literal["auto", "hidden", "disc_loss"] = Field(
        default="auto",
        description="What W reads for each token. hidden: its last-layer state (DawGen's "
        "weight net R^d -> R); disc_loss: its discriminative loss, -log of its probability "
        "under its own label's prompt over all labels' prompts (FewGen's weighting network); "
        "auto: disc_loss for fewgen, hidden for dawgen",
    )
    weight_norm: Literal["auto", "softmax", "batch_softmax", "sigmoid"] = Field(
        default="auto",
        description="How W's scores become token weights: softmax over each sequence, "
        "batch_softmax over every token of the batch (FewGen), or sigmoid scores divided by "
        "their sequence sum; auto: batch_softmax for fewgen, softmax for dawgen",
    )
    disc_form: Literal["auto", "share", "log_share"] = Field(
        default="auto",
        description="The meta-objective L_disc on the look-ahead prompts. share: minus each "
        "token's probability share under its own label (DawGen); log_share: the cross-entropy "
        "of that share (FewGen); auto: log_share for fewgen, share for dawgen",
    )
    margin: float = Field(default=1.0, ge=0, description="Margin of L_dist (cosine similarity)")
    dist_lambda: float = Field(
        default=0.01,
        ge=0,
        description="Coefficient of L_dist (dawgen). The margin loss is O(1) whatever the "
        "model; at 0.1 it outweighs L_wGen on small generators and the label prompts drift "
        "off their labels",
    )
    softsrv_components: int = Field(
        default=4, ge=1, description="ssmp only: number of mixture prompts K"
    )
    softsrv_hidden: int = Field(default=128, ge=1, description="ssmc only: MLP hidden width")
    embedder: Literal["lm", "minilm"] = Field(
        default="lm",
        description="softsrv sequence embedder E: lm = mean input-token embeddings of the "
        "generator; minilm = the bundled all-MiniLM-L6-v2 sentence encoder (mean pooled)",
    )
    pair_separator: str = Field(
        default=" ; ",
        description="Pair tasks: text between the given first sentence and the generated second",
    )
    seed: int = Field(
        default=42, ge=0, description="Seed for prompt init, W init and batch sampling"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32", description="dtype of the frozen generator (prompts stay float32)"
    )
    device: str = Field(default="cpu", description="torch device, e.g. cpu, cuda, cuda:1")
    trust_remote_code: bool = Field(
        default=False, description="Allow model repos to run their own code (off unless needed)"
    )

    @property
    def resolved_weight_input(self) -> str:
        """``weight_input`` with ``auto`` resolved for the mode."""
        return self._as_paper("weight_input")

    @property
    def resolved_weight_norm(self) -> str:
        """``weight_norm`` with ``auto`` resolved for the mode."""
        return self._as_paper("weight_norm")

    @property
    def resolved_disc_form(self) -> str:
        """``disc_form`` with ``auto`` resolved for the mode."""
        return self._as_paper("disc_form")

    def _as_paper(self, field: str) -> str:
        value = getattr(self, field)
        if value != "auto":
            return value
        return PAPER_WEIGHTING["fewgen" if self.mode == "fewgen" else "dawgen"][field]


class GenerationConfig(StageConfig):
    """How synthetic examples are sampled from the tuned generator and filtered (stage 2)."""

    n_per_label: int = Field(default=200, ge=1, description="Rows to sample per label")
    temperature: float = Field(default=1.0, gt=0, description="Softmax temperature")
    top_k: int = Field(default=0, ge=0, description="Keep the k most likely tokens (0: off)")
    top_p: float = Field(default=0.9, gt=0, le=1, description="Nucleus mass (1.0: off)")
    repetition_penalty: float | list[float] = Field(
        default=1.1,
        description="CTRL penalty (>= 1) on tokens already in the row; one value, or one per "
        "label (index = int label)",
    )
    max_new_tokens: int = Field(default=40, ge=1, description="Max generated tokens per row")
    batch_size: int = Field(default=32, ge=1, description="Rows decoded together")
    seed: int = Field(default=0, ge=0, description="Base seed; row i of label l gets its own seed")
    dedup_threshold: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Near-duplicate if char 3-gram Jaccard of normalised texts >= this "
        "(1.0: exact duplicates only)",
    )
    min_words: int = Field(default=3, ge=1, description="Rows with fewer words are degenerate")
    max_words: int = Field(default=200, ge=1, description="Rows with more words are degenerate")
    max_repeat_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Degenerate if the most frequent word is more than this share of the words",
    )
    pair_source: Literal["real", "pool"] = Field(
        default="real",
        description="Pair tasks: first sentences come from the real few-shot set or a given pool",
    )

    @model_validator(mode="after")
    def _check(self) -> GenerationConfig:
        penalties = (
            self.repetition_penalty
            if isinstance(self.repetition_penalty, list)
            else [self.repetition_penalty]
        )
        if not penalties or any(p < 1.0 for p in penalties):
            raise ValueError(f"repetition_penalty must be >= 1, got {self.repetition_penalty}")
        if self.min_words > self.max_words:
            raise ValueError(f"min_words {self.min_words} > max_words {self.max_words}")
        return self

    def penalty_for(self, label: int) -> float:
        """The repetition penalty of one label."""
        if isinstance(self.repetition_penalty, list):
            if label >= len(self.repetition_penalty):
                raise ValueError(
                    f"repetition_penalty has {len(self.repetition_penalty)} values; "
                    f"no value for label {label}"
                )
            return self.repetition_penalty[label]
        return self.repetition_penalty
