"""Label words a backbone can score, checked in its tokenizer alone (no model weights).

The masked, causal and seq2seq kinds score one token per label: the first token of the
label word as it reads mid-sentence (``in_context_ids``). It is an error when that token
is the unknown token (every word the tokenizer does not know scores alike) or another
special token, when the word has no token at all, or when two labels share it (they
would always score the same). A word of several tokens is scored by its first alone:
worth a note, not an error. The sentence kind embeds whole label sentences, so only
two identical sentences are an error there.
"""

from __future__ import annotations

from dataclasses import dataclass

from synprompt_core.task_registry import TaskSpec


@dataclass(frozen=True)
class LabelWords:
    """The token each label is scored by, and what the caller may want to tell the user.

    Attributes:
        ids: the scored token id of each label, in label order.
        notes: one line per label word of several tokens, of which only the first counts.
    """

    ids: tuple[int, ...]
    notes: tuple[str, ...]


def in_context_ids(tokenizer, word: str) -> list[int]:
    """Token ids of ``word`` as it appears mid-sentence (after a space); may be empty.

    BPE and sentencepiece tokenizers spell a word differently at the start of a
    text and after a space; the verbalizer follows a space in every template, so
    the word is tokenised as ``" " + word`` and leading whitespace-only tokens
    (a byte-level space, a bare sentencepiece ``"▁"``) are dropped.
    """
    ids = list(tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"])
    while ids and not tokenizer.decode([ids[0]]).strip():
        ids.pop(0)
    return ids


def describe_label(task: TaskSpec, label: int) -> str:
    """``"label '1' (positive)"``; the meaning only where it adds something."""
    name, meaning = task.label_names[label], task.label_meanings[label]
    return f"label {name!r}" if meaning == name else f"label {name!r} ({meaning})"


def unscorable(tokenizer, word_ids: list[int]) -> str | None:
    """Why the first of ``word_ids`` cannot stand for a label, or None when it can."""
    if not word_ids:
        return "no token to score"
    first = tokenizer.convert_ids_to_tokens(word_ids[0])
    if word_ids[0] == tokenizer.unk_token_id:
        return (
            f"its scored token {first!r} is the unknown token, which every word this "
            "tokenizer does not know scores alike"
        )
    if word_ids[0] in tokenizer.all_special_ids:
        return f"its scored token {first!r} is a special token"
    return None


def scored_label_words(tokenizer, task: TaskSpec, *, model: str | None = None) -> LabelWords:
    """The first in-context token of each of ``task``'s label words, checked.

    Args:
        tokenizer: the backbone's tokenizer (only its vocabulary is used).
        task: the task whose ``verbalizers`` are scored.
        model: the model's name in messages; default the tokenizer's own path.

    Returns:
        ``LabelWords``: the scored ids and a note per word of several tokens.

    Raises:
        ValueError: naming the task, the label, the word, the tokens it became and the
            model, for a word with no token, a scored token that is the unknown or another
            special token, or a scored token another label already has.
    """
    model = model or tokenizer.name_or_path
    owner: dict[int, tuple[int, list[str]]] = {}
    ids, notes = [], []
    for label, word in enumerate(task.verbalizers):
        try:
            word_ids = in_context_ids(tokenizer, word)
        except Exception as err:  # noqa: BLE001 - the Rust tokenizers raise a bare Exception
            raise ValueError(
                f"task {task.name}, {describe_label(task, label)}: word {word!r} cannot be "
                f"tokenised by the tokenizer of {model!r}: {str(err).splitlines()[0]}"
            ) from err
        tokens = tokenizer.convert_ids_to_tokens(word_ids)
        said = f"task {task.name}, {describe_label(task, label)}: word {word!r} becomes "
        said += f"{tokens} in the tokenizer of {model!r}"
        problem = unscorable(tokenizer, word_ids)
        if problem:
            raise ValueError(f"{said}: {problem}")
        first = word_ids[0]
        if first in owner:
            other, other_tokens = owner[first]
            raise ValueError(
                f"{said}, and {describe_label(task, other)}: word {task.verbalizers[other]!r} "
                f"becomes {other_tokens}: the two share their first token {tokens[0]!r} "
                f"(id {first}), the only one scored, so the labels would always score alike; "
                "label words must differ in their first token"
            )
        owner[first] = (label, tokens)
        ids.append(first)
        if len(word_ids) > 1:
            notes.append(f"{said}; only its first token {tokens[0]!r} is scored")
    return LabelWords(ids=tuple(ids), notes=tuple(notes))


def check_label_sentences(task: TaskSpec) -> None:
    """ValueError when two labels of ``task`` have the same sentence-encoder label sentence."""
    first: dict[str, int] = {}
    for label, sentence in enumerate(task.label_sentences()):
        if sentence in first:
            raise ValueError(
                f"task {task.name}, {describe_label(task, label)} and "
                f"{describe_label(task, first[sentence])} "
                f"have the same label sentence {sentence!r}: the sentence backbone would "
                "score them alike; give each label its own word"
            )
        first[sentence] = label
