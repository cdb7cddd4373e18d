"""Sentence embeddings: the real from_pretrained path, pooling, and the content cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from synprompt_core.alignment import SentenceEncoder, embed_texts, embedding_cache_key
from synprompt_core.configs.alignment import EmbeddingConfig

WORDS = ["good", "bad", "movie", "film", "great", "awful", "the", "a", "was", "is"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT and a WordPiece tokenizer saved to a folder, as from the hub."""
    path = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(cfg).save_pretrained(path)
    return str(path)


class _CountingEncoder:
    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return np.arange(len(texts) * 3, dtype=np.float32).reshape(len(texts), 3)


def test_tiny_encoder_mean_pools_and_normalises(tiny_bert):
    enc = SentenceEncoder(EmbeddingConfig(encoder=tiny_bert, batch_size=2))
    texts = ["the movie was good", "bad", "a great film is great", "awful"]
    emb = enc.encode(texts)
    assert emb.dtype == np.float32 and emb.shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([enc.encode([t]) for t in texts])
    np.testing.assert_allclose(emb, one_by_one, atol=1e-5)  # padding must not leak in
    raw = SentenceEncoder(EmbeddingConfig(encoder=tiny_bert, normalize=False)).encode(texts)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


def test_bundled_minilm_by_default():
    enc = SentenceEncoder(EmbeddingConfig())
    emb = enc.encode(["a wonderful film", "a great movie", "the stock market fell"])
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_cache_makes_re_embedding_free(tmp_path):
    cfg = EmbeddingConfig(encoder="some/encoder")
    counter = _CountingEncoder()
    first = embed_texts(["x", "y"], config=cfg, cache_dir=tmp_path, encoder=counter)
    second = embed_texts(["x", "y"], config=cfg, cache_dir=tmp_path, encoder=counter)
    assert counter.calls == 1
    np.testing.assert_array_equal(first, second)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    embed_texts(["x", "y"], config=cfg, cache_dir=None, encoder=counter)
    assert counter.calls == 2


def test_two_writers_of_one_cache_entry_both_succeed(tmp_path, monkeypatch):
    """Two cells of a grid embedding the same texts at once: both have written their file
    before either moves it into place; neither may find its temp file gone."""
    save, both_saved = np.save, threading.Barrier(2)

    def save_then_wait(path, array):
        save(path, array)
        both_saved.wait(timeout=10)

    monkeypatch.setattr(np, "save", save_then_wait)
    cfg, results, errors = EmbeddingConfig(encoder="some/encoder"), [], []

    def run():
        try:
            results.append(
                embed_texts(["x", "y"], config=cfg, cache_dir=tmp_path, encoder=_CountingEncoder())
            )
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2
    assert [p.name for p in tmp_path.iterdir()] == [
        f"{embedding_cache_key(['x', 'y'], config=cfg)}.npy"
    ]


def test_cache_key_covers_content_not_operational_knobs():
    cfg = EmbeddingConfig(encoder="e")
    key = embedding_cache_key(["ab", "c"], config=cfg)
    assert key == embedding_cache_key(["ab", "c"], config=cfg.model_copy(update={"batch_size": 3}))
    assert key == embedding_cache_key(["ab", "c"], config=cfg.model_copy(update={"device": "cuda"}))
    assert key != embedding_cache_key(["a", "bc"], config=cfg)
    assert key != embedding_cache_key(
        ["ab", "c"], config=cfg.model_copy(update={"normalize": False})
    )
    assert key != embedding_cache_key(["ab", "c"], config=EmbeddingConfig(encoder="f"))


@pytest.mark.parametrize(
    ("texts", "message"),
    [([], "input is empty"), ("one string", "single string"), (["ok", None], "row 1 is NoneType")],
)
def test_bad_texts_give_one_clear_error(texts, message):
    with pytest.raises(ValueError, match=message):
        embed_texts(texts, config=EmbeddingConfig(), encoder=_CountingEncoder())


def test_nan_embeddings_are_rejected(tiny_bert):
    enc = SentenceEncoder(EmbeddingConfig(encoder=tiny_bert))
    with torch.no_grad():
        for p in enc.model.parameters():
            p.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or inf"):
        enc.encode(["good movie"])
