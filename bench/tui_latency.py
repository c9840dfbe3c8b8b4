"""Measure how long a snapshot takes from the watch stream to the screen.

`python -m bench.tui_latency [--updates 50] [--size 160x48]` runs the dashboard headless over
the in-memory client with the demo fleet, publishes snapshots one at a time and records, for
each, the time from the client yielding it to (a) every widget being updated and (b) the first
compositor frame that contains its version number (what a terminal would be sent).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from textual.screen import Screen

from bench.tui_harness import demo_app, wait_for_snapshot, wait_until
from edgefleet.stats import percentile
from tui.app import EdgeFleetApp


def _hook_frames(app: EdgeFleetApp, frames: list[tuple[float, str]]) -> None:
    """Record (perf_counter, text) of every frame the compositor produces."""
    original = app._display
    console = Console(width=400, force_terminal=True, color_system=None, file=io.StringIO())

    def display(screen: Screen[Any], renderable: Any) -> None:
        original(screen, renderable)
        if renderable is not None and hasattr(renderable, "render_segments"):
            frames.append((time.perf_counter(), renderable.render_segments(console)))

    app._display = display  # type: ignore[method-assign]


def _frame_contains(frames: list[tuple[float, str]], marker: str) -> Callable[[], bool]:
    return lambda: any(marker in text for _, text in frames)


async def measure(updates: int, size: tuple[int, int]) -> dict[str, float]:
    """Publish `updates` snapshots and return latency statistics in milliseconds."""
    app, client = demo_app()
    frames: list[tuple[float, str]] = []
    to_widgets: list[float] = []
    to_frame: list[float] = []
    async with app.run_test(size=size) as pilot:
        _hook_frames(app, frames)
        await wait_for_snapshot(pilot, app)
        for _ in range(updates):
            frames.clear()
            before = len(app.render_latencies_s)
            client.update(
                lambda snap: setattr(snap.nodes[0], "cpu_percent", (snap.nodes[0].cpu_percent + 7) % 90)
            )
            version = client.snapshot.version
            marker = f"v{version} "
            await wait_until(pilot, _frame_contains(frames, marker), what=f"frame with {marker}")
            received_at = app.render_latencies_s[before] if len(app.render_latencies_s) > before else 0.0
            to_widgets.append(received_at * 1000)
            shown_at = next(t for t, text in frames if marker in text)
            assert app.snapshot is not None
            to_frame.append((shown_at - (app.last_received_at or shown_at)) * 1000)
    return {
        "updates": float(updates),
        "widgets_p50_ms": percentile(to_widgets, 50),
        "frame_p50_ms": percentile(to_frame, 50),
        "frame_p95_ms": percentile(to_frame, 95),
        "frame_max_ms": max(to_frame),
    }


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--size", default="160x48")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    result = asyncio.run(measure(args.updates, (width, height)))
    print(
        f"{int(result['updates'])} snapshots at {width}x{height}: stream->widgets p50 "
        f"{result['widgets_p50_ms']:.2f} ms; stream->frame p50 {result['frame_p50_ms']:.2f} ms, "
        f"p95 {result['frame_p95_ms']:.2f} ms, max {result['frame_max_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
