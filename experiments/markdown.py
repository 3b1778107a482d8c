"""Small Markdown builders shared by the studies and the report: tables from rows of cells, and
the number formats their tables use. Each returns plain text ending in a newline, so a section is
a list of such pieces joined with ``"".join``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["table", "percent", "image"]


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub Markdown table: ``header`` cells, a separator, then one line per row of cells
    (each cell ``str()``-ed; a row must have as many cells as the header)."""
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"row {i} has {len(cells)} cells, expected {len(header)} (the header's): {cells!r}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def percent(fraction: float | None) -> str:
    """An accuracy fraction as a percentage with one decimal (``0.4163 -> '41.6'``), ``'n/a'`` for None."""
    return "n/a" if fraction is None else f"{100 * fraction:.1f}"


def image(path: str, alt: str) -> str:
    """A Markdown image line."""
    return f"![{alt}]({path})\n"
