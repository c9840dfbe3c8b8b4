"""`python -m tui [--router ADDR] [--demo]`: the operator dashboard."""

from __future__ import annotations

import argparse

from tui.app import run_tui
from tui.client import DEFAULT_ROUTER_ADDRESS


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the dashboard."""
    parser = argparse.ArgumentParser(prog="edgefleet tui", description="EdgeFleet operator dashboard")
    parser.add_argument("--router", default=DEFAULT_ROUTER_ADDRESS, help="router host:port (Fleet service)")
    parser.add_argument("--demo", action="store_true", help="show built-in, clearly labelled demo data")
    parser.add_argument("--min-interval-ms", type=int, default=500, help="fastest snapshot rate to ask for")
    args = parser.parse_args(argv)
    run_tui(args.router, demo=args.demo, min_interval_ms=args.min_interval_ms)


if __name__ == "__main__":
    main()
