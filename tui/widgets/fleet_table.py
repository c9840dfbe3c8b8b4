"""A DataTable that is refreshed in place from keyed rows, keeping cursor and scroll."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text
Row = tuple[str, Sequence[Cell]]


def plain(cell: Cell) -> Text:
    """A cell as text that is never read as markup: DataTable would parse a str as Rich markup, so
    request text or a name holding ``[/]`` could crash the dashboard and ``[link=...]`` would
    inject a link."""
    return cell if isinstance(cell, Text) else Text(cell)


class FleetTable(DataTable[Cell]):
    """Base of the nodes, deployments and traces tables: row cursor, zebra, keyed sync."""

    COLUMNS: ClassVar[Sequence[tuple[str, str]]] = ()
    """(column key, header label) pairs, set by subclasses."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Create the columns."""
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def sync_rows(self, rows: Sequence[Row]) -> None:
        """Show exactly `rows`: update cells in place when the keys are unchanged, else rebuild."""
        column_keys = [key for key, _ in self.COLUMNS]
        rows = [(key, [plain(c) for c in cells]) for key, cells in rows]
        if [key for key, _ in rows] == self.row_keys:
            for row_key, cells in rows:
                for column_key, cell in zip(column_keys, cells, strict=True):
                    if self.get_cell(row_key, column_key) != cell:
                        self.update_cell(row_key, column_key, cell, update_width=True)
            return
        selected, scroll_y = self.selected_key, self.scroll_y
        self.clear()
        for row_key, cells in rows:
            self.add_row(*cells, key=row_key)
        keys = [key for key, _ in rows]
        if selected in keys:
            self.move_cursor(row=keys.index(selected), scroll=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
