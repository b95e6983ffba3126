"""The two exception types of the PQL compiler.

:class:`PQLError` is the only exception that :func:`pql.compile` and :func:`pql.parse` raise for a bad
query; :class:`SchemaError` is raised while building a :class:`pql.schema.GraphSchema` that is itself
invalid. Neither ever wraps a raw parser exception: the message is written for the person who typed
the query.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PQLError", "SchemaError", "caret_snippet"]


def caret_snippet(source: str, line: int, column: int, width: int = 1) -> str:
    """Return the source line ``line`` (1-based) with ``^`` markers under ``column`` (1-based).

    Args:
        source: the full query text.
        line: 1-based line number of the position.
        column: 1-based column of the position.
        width: how many characters to underline (at least one ``^``; clipped to the line's end).

    Returns:
        Two lines, the source line and the marker line; an empty string if ``line`` is out of range.
    """
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    # Tabs would misalign the caret, so show them as single spaces.
    text = lines[line - 1].replace("\t", " ").rstrip("\r")
    col = max(1, min(column, len(text) + 1))
    width = max(1, min(width, len(text) - col + 1))
    return f"{text}\n{' ' * (col - 1)}{'^' * width}"


class PQLError(Exception):
    """A query the compiler rejects: where (line, column), what went wrong, and how to fix it.

    Attributes:
        message: what is wrong, in plain words (``"unknown column orders.pric"``).
        line: 1-based line of the offending position, or ``None`` when the error has no position.
        column: 1-based column of the offending position, or ``None``.
        hint: a suggestion (``"did you mean orders.price?"``), or ``None``.
        snippet: the offending source line with a ``^`` under the position ('' when unknown).
        end_line, end_column: end of the offending range (exclusive column), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
        source: str | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.end_line = end_line
        self.end_column = end_column
        self.snippet = ""
        if source is not None:
            self.attach_source(source)
        super().__init__(message)

    def attach_source(self, source: str) -> PQLError:
        """Fill :attr:`snippet` from the query text (used once the error reaches the compiler's edge).

        Args:
            source: the full query text the positions refer to.

        Returns:
            ``self``, for chaining.
        """
        if self.line is not None and self.column is not None and not self.snippet:
            width = 1
            if self.end_line == self.line and self.end_column is not None:
                width = self.end_column - self.column
            self.snippet = caret_snippet(source, self.line, self.column, width)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON object the command line prints: line, column, message, hint."""
        return {"line": self.line, "column": self.column, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line is not None else ""
        parts = [f"{where}{self.message}"]
        if self.snippet:
            parts.append(self.snippet)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class SchemaError(ValueError):
    """A graph schema that is invalid in itself (unknown semantic type, missing key column, bad link).

    Attributes:
        message: what is wrong.
        hint: a suggestion, or ``None``.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON object the command line prints (no query position)."""
        return {"line": None, "column": None, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"
