"""Listings as plain aligned columns, as kubectl and pachctl print them.

Cells are never cut: ids are what users copy into the next command, so a row wider than the terminal wraps
instead of losing characters. On a terminal the header is bold and states are coloured; piped (not a
terminal) the output is plain text, one row per line, columns separated by at least two spaces, easy for
`awk`, `cut` and `column`. Machine-readable output is `--json`, not this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from vigil.cli.console import out

GAP = "  "
STATE_COLOURS = {"SUCCESS": "green", "FAILURE": "red", "KILLED": "red", "EMPTY": "yellow", "PARTIAL": "yellow",
                 "RUNNING": "cyan", "CREATED": "cyan", "BACKOFF": "yellow", "skipped": "dim", "failed": "red",
                 "success": "green"}


def state_colour(value: str) -> str | None:
    return STATE_COLOURS.get(value)


def format_rows(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> list[list[str]]:
    """Header (upper case) and rows as strings, padded so each column is as wide as its widest cell."""
    table = [[c.upper() for c in columns], *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return [[cell.ljust(widths[i]) if i < len(columns) - 1 else cell for i, cell in enumerate(r)] for r in table]


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return " ".join(text.split())  # one line per row, whatever the cell holds


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], *,
                colour: Mapping[str, Callable[[str], str | None]] | None = None, empty: str | None = None) -> None:
    """Print ``rows`` under ``columns``. ``colour`` maps a column name to a function giving a rich colour for a
    cell's value (used on a terminal only); ``empty`` is printed instead of a lone header when there are no
    rows."""
    lines = format_rows(columns, rows)
    if len(lines) == 1 and empty is not None:
        out.print(empty, markup=False, highlight=False)
        return
    if not out.is_terminal:
        for line in lines:
            out.print(GAP.join(line).rstrip(), markup=False, highlight=False, soft_wrap=True)
        return
    from rich.markup import escape

    colour = colour or {}
    painters = [colour.get(c) for c in columns]
    header, *body = lines
    out.print("[bold]" + escape(GAP.join(header).rstrip()) + "[/]", soft_wrap=True)
    for line in body:
        cells = []
        for cell, paint in zip(line, painters, strict=True):
            style = paint(cell.strip()) if paint else None
            cells.append(f"[{style}]{escape(cell)}[/]" if style else escape(cell))
        out.print(GAP.join(cells).rstrip(), soft_wrap=True)


def print_fields(fields: Sequence[tuple[str, object]]) -> None:
    """``key   value`` lines for an inspect command (values already human-readable)."""
    width = max((len(k) for k, _ in fields), default=0)
    for key, value in fields:
        out.print(f"{key + ':':<{width + 1}}  {_cell(value) if not isinstance(value, str) else value}",
                  markup=False, highlight=False, soft_wrap=True)
