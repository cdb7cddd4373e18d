"""Input texts that hold a literal the backbone keeps for itself (its mask token).

The masked backbone writes the tokenizer's mask token (``[MASK]``, ``<mask>``) in the
template's mask slot and scores the label there; the seq2seq backbone writes T5's
sentinel ``<extra_id_0>``. A text holding the same literal gives its row a second such
token, which the tokenizer reads as the token itself, not as words. Such a row is
refused, naming its file, row and field, rather than scored at the template's own
slot: the model was pretrained to fill every mask token, so it would read the text
with a hole in it, and only the user knows what the text should say there. Generated
rows are the generator's, not the user's: such a row is removed and counted like any
other degenerate generated row (``drop_literal_rows``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synprompt_core.data.errors import DataError

TEXT_FIELDS = ("text_a", "text_b")


def first_literal_row(texts: pd.Series, *, literal: str, tokenizer) -> int | None:
    """0-based position of the first text in which ``tokenizer`` reads ``literal`` as its
    token, or None.

    A plain substring test picks the candidates (fast on a full training file); only
    those are tokenised, in order, up to the first hit, so a literal the tokenizer would
    split into words is let pass and a file full of them costs one tokenisation.
    """
    literal_id = tokenizer.convert_tokens_to_ids(literal)
    for i in texts.str.contains(literal, regex=False).to_numpy().nonzero()[0]:
        if literal_id in tokenizer(texts.iat[i], add_special_tokens=False)["input_ids"]:
            return int(i)
    return None


def literal_rows(texts: pd.Series, *, literal: str, tokenizer) -> np.ndarray:
    """Boolean ``[len(texts)]``: which texts ``tokenizer`` reads as holding ``literal`` as
    its token (the test of ``first_literal_row``, on every text). Only the texts holding
    ``literal`` as a substring are tokenised, in one call."""
    hits = np.zeros(len(texts), dtype=bool)
    candidates = texts.str.contains(literal, regex=False).to_numpy().nonzero()[0]
    if len(candidates):
        literal_id = tokenizer.convert_tokens_to_ids(literal)
        ids = tokenizer(texts.iloc[candidates].tolist(), add_special_tokens=False)["input_ids"]
        hits[candidates] = [literal_id in row for row in ids]
    return hits


def drop_literal_rows(table: pd.DataFrame, *, literal: str, tokenizer) -> tuple[pd.DataFrame, int]:
    """``table`` without the rows whose ``text_a`` or ``text_b`` holds ``literal`` as
    ``tokenizer`` reads it (a literal it splits into words is kept), and how many went.

    Args:
        table: an example table (generated rows); not changed.
        literal: the reserved token text, e.g. ``"[MASK]"``.
        tokenizer: the backbone's tokenizer, which decides what reads as ``literal``.

    Returns:
        ``(kept, dropped)``: the other rows in their order (index 0..n-1), and the count.
    """
    hits = np.zeros(len(table), dtype=bool)
    for field in TEXT_FIELDS:
        if field in table.columns:
            texts = table[field].astype(str)
            hits |= literal_rows(texts, literal=literal, tokenizer=tokenizer)
    return table.loc[~hits].reset_index(drop=True), int(hits.sum())


def check_reserved_text(
    table: pd.DataFrame, *, literal: str, tokenizer, path: str | Path, why: str
) -> None:
    """Raise ``DataError`` at the first row whose ``text_a`` or ``text_b`` holds ``literal``.

    Args:
        table: a validated example table, rows in file order (1-based in the error).
        literal: the reserved token text, e.g. ``"[MASK]"``.
        tokenizer: the backbone's tokenizer, which decides what reads as ``literal``.
        path: the file (or dataset id) the table came from.
        why: what the literal is, e.g. ``"the mask token of 'bert-base-uncased'"``.

    Raises:
        DataError: naming the file, the 1-based row and the field.
    """
    hits = []
    for field in TEXT_FIELDS:
        if field in table.columns:
            row = first_literal_row(table[field].astype(str), literal=literal, tokenizer=tokenizer)
            hits += [] if row is None else [(row, field)]
    if hits:
        row, field = min(hits)
        raise DataError(
            f"the text holds {literal!r}, {why}, so a text may not hold it: replace it by a "
            "word or a placeholder such as '_'",
            path=path,
            row=row + 1,
            field=field,
        )
