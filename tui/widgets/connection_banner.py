"""A banner shown while the router is unreachable (hidden when connected)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ConnectionBanner(Static):
    """Displays the error and the reconnection countdown; `-visible` class shows it."""

    def show_problem(self, address: str, error: str, retry_in_s: float, attempt: int) -> None:
        """Make the banner visible with what went wrong and when we retry."""
        reason = error if len(error) <= 160 else error[:159] + "…"
        self.update(
            Text.assemble(
                ("Router unreachable", "bold"),
                f" at {address} — {reason}\n",
                f"Reconnecting in {retry_in_s:.1f} s (attempt {attempt}); the data below may be stale.",
            )
        )
        self.add_class("-visible")

    def hide(self) -> None:
        """Connected again."""
        self.remove_class("-visible")
        self.update("")
