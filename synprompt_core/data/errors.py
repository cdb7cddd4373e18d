"""The data layer's error (a bad table, pointing at file, row and field) and its notes."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A data file or table that breaks the example-table contract.

    Attributes:
        path: the file (or dataset id) the table came from.
        row: 1-based data row (header not counted), or None for file-level problems.
        field: the column at fault, or None.
        detail: what is wrong, without the location.
    """

    def __init__(
        self,
        detail: str,
        *,
        path: str | Path,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.row = row
        self.field = field
        self.detail = detail
        super().__init__(f"{self.location}: {detail}")

    @property
    def location(self) -> str:
        """``"<path> row <row>, field '<field>'"`` with the parts that are known."""
        where = str(self.path)
        if self.row is not None:
            where += f" row {self.row}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return where

    def __reduce__(self):  # keep picklable across Prefect worker processes
        return (_rebuild, (self.detail, self.path, self.row, self.field))


def _rebuild(detail: str, path: str | Path, row: int | None, field: str | None) -> DataError:
    return DataError(detail, path=path, row=row, field=field)


class DataNote(UserWarning):
    """Something a reader decided on its own that the user may want to know (shown by
    ``validate`` and in a run's log, once): how integer labels or columns were read."""
