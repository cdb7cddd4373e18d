"""Tiny models built offline, saved with ``save_pretrained``; shared by the test suite.

Each builder writes a model + tokenizer folder under ``dir`` and returns its
path, to be loaded back through the real loading path (``load_backbone``).
Tokenizers need no download: ByT5 has no vocab file; the GPT-2 one is trained
here on a few sentences with the ``tokenizers`` library, the BERT one's vocabulary
is built from them (the same ids in every process).
"""

from __future__ import annotations

from pathlib import Path

import torch

SENTENCES = [
    "it was great . the movie was great and the acting was good .",
    "it was terrible . the film was terrible and the plot was bad .",
    "a great , wonderful , moving film . i loved it .",
    "a terrible , boring , awful movie . i hated it .",
    "yes , the second sentence follows from the first one .",
    "no , the two sentences say different things .",
    "maybe it is true , maybe it is not .",
    "the cat sat on the mat and the dog ran in the park .",
    "great great good good terrible terrible bad bad yes yes no no maybe",
]
CORPUS = SENTENCES * 4
SPECIAL_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Words the tests' tables write that SENTENCES lacks: whole tokens, as in a real BERT
# vocabulary (spelt out letter by letter, "indeed" would outweigh the sentence it ends).
EXTRA_BERT_WORDS = ["dull", "fun", "indeed", "really"]


def _seed() -> None:
    torch.manual_seed(0)


def _bpe_tokenizer():
    """Byte-level BPE (GPT-2 style) with ``<|endoftext|>`` as bos/eos/pad."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    raw = ByteLevelBPETokenizer(add_prefix_space=False)
    raw.train_from_iterator(
        CORPUS, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"]
    )
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=eos, eos_token=eos, pad_token=eos
    )


def _wordpiece_vocab(normalizer, pre_tokenizer) -> dict[str, int]:
    """Specials, every character alone and as a ``##`` suffix, then every word, sorted.

    Built, not trained: ``WordPieceTrainer`` breaks frequency ties in hash order, which
    differs from process to process, so its vocabulary (and with it the ids, the seeded
    embedding rows and every tiny-model result) changed from one pytest run to the next.
    """
    import string

    texts = [*SENTENCES, *EXTRA_BERT_WORDS]
    pieces = (pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(t)) for t in texts)
    words = sorted({word for words in pieces for word, _ in words})
    chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    tokens = [*SPECIAL_BERT, *chars, *(f"##{c}" for c in chars), *words]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}


def _wordpiece_tokenizer():
    """Lower-cased WordPiece (BERT style) with ``[CLS] a [SEP] b [SEP]`` pairs."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    raw = Tokenizer(
        models.WordPiece(vocab=_wordpiece_vocab(normalizer, pre_tokenizer), unk_token="[UNK]")
    )
    raw.normalizer = normalizer
    raw.pre_tokenizer = pre_tokenizer
    cls, sep = raw.token_to_id("[CLS]"), raw.token_to_id("[SEP]")
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    raw.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _save(model, tokenizer, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_t5(dir: str | Path) -> Path:
    """2-layer T5 (d=32) with a ByT5 byte tokenizer (has ``<extra_id_0>``)."""
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    _seed()
    tokenizer = ByT5Tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        dropout_rate=0.1,
    )
    return _save(T5ForConditionalGeneration(config), tokenizer, Path(dir) / "tiny-t5")


def build_tiny_gpt2(dir: str | Path) -> Path:
    """2-layer GPT-2 (d=32) with a byte-level BPE tokenizer trained on a few sentences."""
    from transformers import GPT2Config, GPT2LMHeadModel

    _seed()
    tokenizer = _bpe_tokenizer()
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    return _save(GPT2LMHeadModel(config), tokenizer, Path(dir) / "tiny-gpt2")


def _bert_config(vocab_size: int):
    """2 layers, d=32; weights drawn with std 0.2, not BERT's 0.02.

    At 0.02 a random model's attention is uniform to within a few percent, so a soft prompt
    shifts every input's embedding alike: it can learn a label bias, hardly the task, and
    whether a short training run "learns" then hangs on the draw. At 0.2 attention depends
    on the tokens, and a prompt fits a few labelled rows in a few dozen steps.
    """
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        pad_token_id=0,
        initializer_range=0.2,
    )


def build_tiny_bert_mlm(dir: str | Path) -> Path:
    """2-layer BERT masked LM (d=32) with a WordPiece tokenizer built offline."""
    from transformers import BertForMaskedLM

    _seed()
    tokenizer = _wordpiece_tokenizer()
    model = BertForMaskedLM(_bert_config(len(tokenizer)))
    return _save(model, tokenizer, Path(dir) / "tiny-bert-mlm")


def build_tiny_bert_tokenizer(dir: str | Path) -> Path:
    """The tiny BERT's tokenizer and config with no weights: a check that passes on it
    loaded no model. Its vocabulary knows ASCII only: a word in another script is
    ``[UNK]``, and ``greatly`` starts with the token ``great``."""
    path = Path(dir) / "tiny-bert-tokenizer"
    tokenizer = _wordpiece_tokenizer()
    _bert_config(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_sentence_encoder(dir: str | Path) -> Path:
    """2-layer BERT encoder (d=32, no LM head), shaped like all-MiniLM-L6-v2."""
    from transformers import BertModel

    _seed()
    tokenizer = _wordpiece_tokenizer()
    model = BertModel(_bert_config(len(tokenizer)))
    return _save(model, tokenizer, Path(dir) / "tiny-sentence")
