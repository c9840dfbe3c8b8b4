"""``edgefleet keys add``: make an API key, store its sha256 in the keys file, print it once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add(args: argparse.Namespace) -> int:
    """Generate a key for `--id` with `--role` (and limits) in `--file`."""
    from router.keyfile import add_key

    try:
        key = add_key(
            Path(args.file),
            args.id,
            args.role,
            rate_per_s=args.rate_per_s,
            burst=args.burst,
            budget_usd_per_day=args.budget_usd_per_day,
            budget_usd_per_month=args.budget_usd_per_month,
        )
    except (ValueError, OSError) as exc:
        print(f"cannot add key {args.id!r}: {exc}", file=sys.stderr)
        return 1
    print(key)
    print(
        f"key {args.id!r} ({args.role}) added to {args.file}; only its sha256 is stored, so keep the key "
        "now (point router.api_keys_file at the file and restart the router)",
        file=sys.stderr,
    )
    return 0


def add_parser(sub: Any) -> None:
    """The ``keys`` command's arguments."""
    keys = sub.add_parser("keys", help="API keys of the router (hashed keys file)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    ka = ksub.add_parser("add", help="make a key, store its hash in the keys file, print the key once")
    ka.add_argument("--file", required=True, help="the keys file (router.api_keys_file)")
    ka.add_argument("--id", required=True, help="the key's id (what the ledger and messages name)")
    ka.add_argument("--role", required=True, choices=("app", "viewer", "operator"))
    ka.add_argument("--rate-per-s", type=float, help="requests per second")
    ka.add_argument("--burst", type=int, help="bucket size of the rate limit")
    ka.add_argument("--budget-usd-per-day", type=float, help="spend per UTC day")
    ka.add_argument("--budget-usd-per-month", type=float, help="spend per UTC month")
