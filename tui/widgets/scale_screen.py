"""A modal asking for a deployment's new replica count; submitting it is the confirmation."""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

MAX_REPLICAS = 64


class ScaleScreen(ModalScreen[int | None]):
    """Dismisses with the new count, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, deployment: str, current: int) -> None:
        super().__init__()
        self.deployment = deployment
        self.current = current

    def compose(self) -> ComposeResult:
        """Question, number input, error line, buttons."""
        with Vertical(classes="dialog"):
            yield Static(
                f"Scale [b]{escape(self.deployment)}[/b] (now {self.current} desired) to how many replicas?",
                classes="dialog-question",
            )
            yield Input(str(self.current), type="integer", id="replicas", placeholder="replicas")
            yield Static("", id="scale-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Scale (Enter)", variant="warning", id="confirm")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        """Focus the input with its text selected."""
        self.query_one(Input).focus()

    def _submit(self) -> None:
        raw = self.query_one(Input).value.strip()
        try:
            replicas = int(raw)
        except ValueError:
            replicas = -1
        if not 0 <= replicas <= MAX_REPLICAS:
            self.query_one("#scale-error", Static).update(f"Enter a whole number from 0 to {MAX_REPLICAS}.")
            return
        self.dismiss(replicas)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the input confirms."""
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Buttons (mouse)."""
        if event.button.id == "confirm":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        """Escape."""
        self.dismiss(None)
