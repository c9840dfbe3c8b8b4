"""SVG snapshots of the dashboard (pytest-textual-snapshot) over fixed demo data.

Nothing here depends on the clock: the snapshot data is fixed (tui.demo.build_demo_snapshot,
times from the data, rendered in UTC), the backoff has no jitter, and the sizes are fixed.
Regenerate with `pytest tests/unit/test_tui_snapshots.py --snapshot-update` and look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from bench.tui_harness import demo_app, wait_for_snapshot, wait_until
from tui.app import EdgeFleetApp
from tui.backoff import Backoff
from tui.widgets.trace_screen import TraceScreen

SnapCompare = Callable[..., bool]


def _ready(app: EdgeFleetApp, *keys: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for_snapshot(pilot, app)
        await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_nodes_at_80x24(snap_compare: SnapCompare) -> None:
    app, _ = demo_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_ready(app))


def test_traffic_at_80x24(snap_compare: SnapCompare) -> None:
    app, _ = demo_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_ready(app, "3"))


def test_grid_at_160x48(snap_compare: SnapCompare) -> None:
    app, _ = demo_app()
    assert snap_compare(app, terminal_size=(160, 48), run_before=_ready(app, "2"))


def test_trace_dialog_at_80x24(snap_compare: SnapCompare) -> None:
    app, _ = demo_app()

    async def open_trace(pilot: Pilot[Any]) -> None:
        await wait_for_snapshot(pilot, app)
        await pilot.press("4", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen), what="trace dialog")

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_trace)


def test_unreachable_banner_light_theme_at_80x24(snap_compare: SnapCompare) -> None:
    app, _ = demo_app(unreachable=True, backoff=Backoff(initial_s=30.0, cap_s=30.0, jitter=0.0))

    async def wait_for_banner(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.connected is False, what="banner")
        await pilot.press("t")

    assert snap_compare(app, terminal_size=(80, 24), run_before=wait_for_banner)
