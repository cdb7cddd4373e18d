"""SynAlign (stage 3): GP demonstration selection, latent-attribute generation, MMD weights.

Pure library code: no prefect, no mlflow, no file I/O except the embedding cache, whose
folder the caller passes in.
"""

from synprompt_core.alignment.attributes import (
    Demonstration,
    ParseResult,
    SyntheticText,
    count_failures,
    format_attribute_prompt,
    format_generation_prompt,
    parse_attributes,
    parse_examples,
)
from synprompt_core.alignment.embeddings import (
    SentenceEncoder,
    embed_texts,
    embedding_cache_key,
    resolve_encoder,
)
from synprompt_core.alignment.gp_select import (
    DemonstrationSelection,
    GPUncertaintyTracker,
    greedy_max_variance,
    greedy_max_variance_refit,
    label_budgets,
    refit_variance,
    select_demonstrations,
)
from synprompt_core.alignment.llm_backends import (
    GenerationRequestError,
    HFCausalGenerator,
    OpenAICompatibleGenerator,
    TextGenerator,
)
from synprompt_core.alignment.mmd import (
    MMDResult,
    check_embeddings,
    choose_bandwidths,
    effective_sample_size,
    mmd2,
    rbf_kernel,
    reweight,
    rff_features,
    standardize,
)
from synprompt_core.alignment.synthesis import (
    DemonstrationGroup,
    SynthesisResult,
    SynthesisRow,
    synthesise_with_attributes,
)
from synprompt_core.alignment.weights import (
    apply_weights,
    loss_weights,
    project_2d,
    resample_indices,
    weight_histogram,
)

__all__ = [
    "apply_weights",
    "Demonstration",
    "DemonstrationGroup",
    "DemonstrationSelection",
    "GPUncertaintyTracker",
    "GenerationRequestError",
    "HFCausalGenerator",
    "MMDResult",
    "OpenAICompatibleGenerator",
    "ParseResult",
    "SentenceEncoder",
    "SynthesisResult",
    "SynthesisRow",
    "SyntheticText",
    "TextGenerator",
    "check_embeddings",
    "choose_bandwidths",
    "count_failures",
    "effective_sample_size",
    "embed_texts",
    "embedding_cache_key",
    "format_attribute_prompt",
    "format_generation_prompt",
    "greedy_max_variance",
    "greedy_max_variance_refit",
    "label_budgets",
    "loss_weights",
    "mmd2",
    "parse_attributes",
    "parse_examples",
    "project_2d",
    "rbf_kernel",
    "refit_variance",
    "resample_indices",
    "resolve_encoder",
    "reweight",
    "rff_features",
    "select_demonstrations",
    "standardize",
    "synthesise_with_attributes",
    "weight_histogram",
]
