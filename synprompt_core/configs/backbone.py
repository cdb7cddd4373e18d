"""The frozen classifier LM that scores label words."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from synprompt_core.configs.base import StageConfig

MINILM = "minilm"
MASK_SLOT_KINDS = ("masked", "seq2seq")  # kinds that write a token of their own in {mask}


class BackboneConfig(StageConfig):
    """Which frozen model scores the verbalizer, and how it is loaded."""

    kind: Literal["seq2seq", "causal", "masked", "sentence"] = Field(
        default="sentence",
        description="seq2seq: T5 decoder scores the verbalizer; causal: next-token verbalizer; "
        "masked: [MASK] verbalizer; sentence: cosine of the pooled embedding to label sentences",
    )
    model: str = Field(
        default=MINILM,
        description="Hugging Face hub id or local folder; 'minilm' = the bundled all-MiniLM-L6-v2",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32", description="dtype of the frozen base model (prompts stay float32)"
    )
    device: str = Field(default="cpu", description="torch device, e.g. cpu, cuda, cuda:1")
    max_length: int = Field(default=128, ge=8, description="Max input tokens (without prompt)")
    temperature: float = Field(
        default=0.05, gt=0, description="sentence kind: cosine similarities are divided by this"
    )
    trust_remote_code: bool = Field(
        default=False, description="Allow model repos to run their own code (off unless needed)"
    )
