"""A table a k9s user can drive: ``/`` filters, ``o`` / ``O`` sort, a header click sorts.

``SortFilterTable`` is the one table of the detailed and the alerts view. The view hands
``show`` its rows in its own default order (worst first), each under a key the view
chooses (a target's name, an alert's id), and never thinks about the filter or the sort
again: this widget keeps the rows it was last given, filters and sorts them, and brings
its DataTable in line with the fewest changes, through DataTable's public API:

- a cell whose text changed: ``update_cell`` (most frames change nothing else);
- a row that came or went, or moved: the rows from the first one out of place onwards are
  removed and added again in order (``remove_row`` / ``add_row`` with the row's key).
  ``DataTable.sort`` cannot do this: its key function is shown the cells, not the row key,
  and the order is decided from the rows' own values, not from their text;
- a column whose width or label changed (a longer name, another sort column): the table is
  rebuilt, keeping the horizontal scroll.

The cursor stays on the same key through all of it, so ``Enter``, ``a`` and ``s`` act on
the row the user chose, wherever it moved.

Filter: each word typed must appear (case-insensitively) in the row's visible text or in
the extra ``Row.text`` the view gives. Sort: by a column's typed value when the view gives
one (``Row.sort``), else by its text in natural order ("api-2" before "api-10",
"9.5 ms" before "12 ms"); rows without a value (``—``) go last either way, and rows that
tie keep the view's order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Label

from wsmon_tui.tui.fmt import DASH
from wsmon_tui.tui.widgets.lines import same

Cell = str | Content | Text
SortValue = float | int | str | None

UP, DOWN = "▲", "▼"
PLACEHOLDER = "words that must all appear, in any column (Enter keeps, Escape clears)"
SCROLLBAR = 2
"""Columns a vertical scrollbar takes (a fitted column leaves room for it)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    fit: int = 0
    """When > 0, the column is as wide as its longest text: at least ``width``, at most ``fit``."""
    essential: bool = False
    """Kept on screen at any width: a fitted column gives up width so these stay visible."""


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: Mapping[str, Cell]
    sort: Mapping[str, SortValue] = field(default_factory=lambda: MappingProxyType({}))
    """Typed sort values by column (a number where the text would sort wrongly)."""
    text: str = ""
    """More words the filter finds the row by, not shown (an alert's summary and labels)."""


def plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Content | Text) else str(cell)


_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def natural(text: str) -> tuple[str | float, ...]:
    """``"api-10"`` -> ``("api-", 10.0, "")``: text and numbers alternate, so keys compare."""
    parts = _NUMBER.split(text.lower())
    return tuple(float(p) if i % 2 else p for i, p in enumerate(parts))


def sort_key(row: Row, column: str) -> tuple[int, Any] | None:
    """The value ``row`` sorts by in ``column``; None when it has none (sorted last)."""
    if column in row.sort:
        value = row.sort[column]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return (0, value) if isinstance(value, int | float) else (1, natural(str(value)))
    text = plain(row.cells.get(column, "")).strip()
    if not text or text == DASH:
        return None
    return 1, natural(text)


def matches(row: Row, needle: str) -> bool:
    words = needle.lower().split()
    if not words:
        return True
    hay = " ".join([*(plain(c) for c in row.cells.values()), row.text]).lower()
    return all(word in hay for word in words)


def arrange(rows: Sequence[Row], needle: str = "", sort_by: str | None = None,
            reverse: bool = False) -> list[Row]:
    """The rows to show, in order: filtered by ``needle``, sorted by ``sort_by`` (stable:
    ties keep the given order; rows without a value last), else in the given order."""
    kept = [r for r in rows if matches(r, needle)]
    if sort_by is None:
        return kept
    keyed = [(sort_key(r, sort_by), r) for r in kept]
    present = [(k, r) for k, r in keyed if k is not None]
    present.sort(key=lambda kr: kr[0], reverse=reverse)
    return [r for _, r in present] + [r for k, r in keyed if k is None]


def cut(cell: Cell, width: int) -> Cell:
    """``cell`` within ``width`` columns, with an ellipsis when cut (a cut name reads as cut)."""
    if len(plain(cell)) <= width:
        return cell
    if isinstance(cell, Content):
        return cell.truncate(width, ellipsis=True)
    if isinstance(cell, Text):
        text = cell.copy()
        text.truncate(width, overflow="ellipsis")
        return text
    return str(cell)[: width - 1] + "…"


def fitted_width(column: Column, rows: Sequence[Row]) -> int:
    """A fitted column's width: its longest text within [width, fit]."""
    longest = max((len(plain(r.cells.get(column.key, ""))) for r in rows), default=0)
    return max(column.width, min(column.fit, longest))


class SortFilterTable(Vertical):
    """``SortFilterTable(columns, table_id=..., filter_id=...)``; ``show(rows)`` each frame."""

    DEFAULT_CSS = """
    SortFilterTable { height: 1fr; }
    SortFilterTable > DataTable { height: 1fr; }
    SortFilterTable > .filter-bar { display: none; height: 1; background: $boost; }
    SortFilterTable > .filter-bar.-shown { display: block; }
    SortFilterTable .filter-label { width: auto; padding: 0 0 0 1; color: $text-muted; }
    SortFilterTable Input, SortFilterTable Input:focus {
        height: 1; border: none; padding: 0 1; background: $boost; width: 1fr;
    }
    SortFilterTable Input:focus { background: $primary 30%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="table.filter",
                tooltip="Filter rows by words in any column (Enter keeps)"),
        Binding("o", "sort_next", "Sort", id="table.sort",
                tooltip="Sort by the next column; after the last, worst first"),
        Binding("O", "sort_reverse", "Reverse", id="table.reverse", tooltip="Reverse the sort"),
        Binding("escape", "clear_filter", "Clear filter", id="table.clear", show=False,
                tooltip="Clear the filter, back to the table"),
    ]

    def __init__(self, columns: Sequence[Column], *, table_id: str, filter_id: str,
                 placeholder: str = PLACEHOLDER) -> None:
        super().__init__()
        self.columns = tuple(columns)
        self.table_id = table_id
        self.filter_id = filter_id
        self.placeholder = placeholder
        self.needle = ""
        """The filter in force (what the filter box holds)."""
        self.sort_by: str | None = None
        """The sort column; None is the view's own order."""
        self.reverse = False
        self._given: list[Row] = []
        """The rows the view last gave, in its order."""
        self._cells: dict[str, dict[str, Cell]] = {}
        """Row key -> the cells the table holds, in the table's order."""
        self._layout: tuple[tuple[str, int], ...] = ()
        """(label, width) of each column as the table has them."""

    # -- composition and state ---------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield DataTable(id=self.table_id, cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="filter-bar"):
            yield Label("filter /", classes="filter-label")
            yield Input(placeholder=self.placeholder, id=self.filter_id)

    @property
    def table(self) -> DataTable[Cell]:
        return self.query_one(f"#{self.table_id}", DataTable)

    @property
    def filter_box(self) -> Input:
        return self.query_one(f"#{self.filter_id}", Input)

    def selected_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def show(self, rows: Sequence[Row]) -> None:
        """Show ``rows`` (in the view's default order), filtered and sorted as the user chose."""
        self._given = list(rows)
        self._apply()

    def on_resize(self) -> None:
        if self._given:
            self._apply()

    # -- bringing the DataTable in line ----------------------------------------------

    def _labels(self) -> list[str]:
        arrow = DOWN if self.reverse else UP
        return [f"{c.label} {arrow}" if c.key == self.sort_by else c.label for c in self.columns]

    def _widths(self) -> list[int]:
        """Essential columns as wide as their text needs (a fitted one within its ``fit``); the
        other fitted columns (a target name) get the room those leave on screen, so at 80
        columns a name is cut only when the essentials really fill the line."""
        table = self.table
        pad = 2 * table.cell_padding
        labels = self._labels()
        widths = [max(fitted_width(c, self._given) if c.fit else c.width, len(label))
                  for c, label in zip(self.columns, labels, strict=True)]
        if table.size.width:
            kept = sum(w + pad for c, w in zip(self.columns, widths, strict=True) if c.essential)
            room = table.size.width - SCROLLBAR - kept - pad
            widths = [w if c.essential or not c.fit else max(min(w, max(c.width, room)), len(label))
                      for c, w, label in zip(self.columns, widths, labels, strict=True)]
        return widths

    def _apply(self) -> None:
        table = self.table
        rows = arrange(self._given, self.needle, self.sort_by, self.reverse)
        selected = self.selected_key()
        layout = tuple(zip(self._labels(), self._widths(), strict=True))
        if layout != self._layout:
            scroll_x = table.scroll_x
            table.clear(columns=True)
            self._cells.clear()
            for column, (label, width) in zip(self.columns, layout, strict=True):
                table.add_column(label, key=column.key, width=width)
            self._layout = layout
            if scroll_x:
                self.call_after_refresh(table.scroll_to, x=scroll_x, animate=False)
        wanted = {r.key: r for r in rows}
        for key in [k for k in self._cells if k not in wanted]:
            table.remove_row(key)
            del self._cells[key]
        order = [r.key for r in rows]
        shown = list(self._cells)
        moved = next((i for i, (a, b) in enumerate(zip(shown, order, strict=False)) if a != b),
                     min(len(shown), len(order)))
        for key in shown[moved:]:  # out of place: added again below, in order
            table.remove_row(key)
            del self._cells[key]
        fitted = {c.key: width for c, (_, width) in zip(self.columns, layout, strict=True) if c.fit}
        for row in rows:
            cells = {c.key: row.cells.get(c.key, DASH) for c in self.columns}
            for key, width in fitted.items():
                cells[key] = cut(cells[key], width)
            old = self._cells.get(row.key)
            if old is None:
                table.add_row(*cells.values(), key=row.key)
                self._cells[row.key] = cells
                continue
            for col, value in cells.items():
                if not same(old[col], value):
                    table.update_cell(row.key, col, value, update_width=False)
                    old[col] = value
        if selected is not None and selected in self._cells:
            index = table.get_row_index(selected)
            if index != table.cursor_row:
                table.move_cursor(row=index)

    # -- keys and mouse -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            try:
                return bool(self.needle) or self.filter_box.has_focus
            except NoMatches:  # not composed yet
                return False
        return True

    def action_filter(self) -> None:
        self.query_one(".filter-bar").add_class("-shown")
        self.filter_box.focus()

    def action_clear_filter(self) -> None:
        self.filter_box.value = ""
        self.query_one(".filter-bar").remove_class("-shown")
        self.table.focus()
        self._set_needle("")

    def action_sort_next(self) -> None:
        keys = [c.key for c in self.columns]
        if self.sort_by is None:
            self.sort_by = keys[0]
        else:
            index = keys.index(self.sort_by) + 1
            self.sort_by = keys[index] if index < len(keys) else None
        self.reverse = False
        self._apply()

    def action_sort_reverse(self) -> None:
        if self.sort_by is None:
            self.sort_by = self.columns[0].key
        else:
            self.reverse = not self.reverse
        self._apply()

    def sort_on(self, column: str) -> None:
        """Sort by ``column``; asked again for the same column, reverse it."""
        if self.sort_by == column:
            self.reverse = not self.reverse
        else:
            self.sort_by, self.reverse = column, False
        self._apply()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_on(str(event.column_key.value))

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._set_needle(event.value.strip())

    @on(Input.Submitted)
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.query_one(".filter-bar").remove_class("-shown")
        self.table.focus()

    def _set_needle(self, needle: str) -> None:
        if needle != self.needle:
            self.needle = needle
            self._apply()
