"""router.ledger: spend survives a restart, running totals per key/day/month, shadow spend apart,
the spend report."""

from __future__ import annotations

import time
from pathlib import Path

from router.ledger import Ledger, LedgerEntry, spend_report


def _entry(
    cost: float, tier: str = "hosted", key: str = "k1", shadow: bool = False, **kw: object
) -> LedgerEntry:
    return LedgerEntry(
        request_id="r",
        route="clinc",
        task="classify",
        tier=tier,
        model="m",
        cost_usd=cost,
        api_key=key,
        shadow=shadow,
        **kw,  # type: ignore[arg-type]
    )


def test_totals_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.record(_entry(0.02, hosted_equivalent_usd=0.02))
    ledger.record(_entry(0.001, tier="edge", hosted_equivalent_usd=0.02))
    ledger.record(_entry(0.02, shadow=True))
    ledger.record(_entry(0.5, key="k2"))
    assert ledger.flush()
    ledger.close()
    again = Ledger(path)  # a router restart
    today = again.day("k1")
    assert (today.hosted_usd, today.edge_usd, today.shadow_usd, today.requests) == (0.02, 0.001, 0.02, 2)
    assert abs(today.total_usd - 0.041) < 1e-12 and again.month("k2").hosted_usd == 0.5
    assert again.all_time.requests == 3 and abs(again.all_time.hosted_equivalent_usd - 0.04) < 1e-12
    assert again.day("nobody").total_usd == 0.0
    old = time.time() - 3 * 86400
    again.record(_entry(1.0, unix=old))
    assert again.day("k1").hosted_usd == 0.02 and again.day("k1", unix=old).hosted_usd == 1.0
    again.close()
    rows = spend_report(path)
    assert rows[0][:4] == (time.strftime("%Y-%m-%d", time.gmtime()), "clinc", "edge", 1)
    assert sum(r[3] for r in rows) == 4 and sum(r[5] for r in rows) == 0.02


def test_in_memory_ledger(tmp_path: Path) -> None:
    ledger = Ledger(None)
    ledger.record(_entry(0.3))
    assert ledger.flush() and ledger.day("k1").hosted_usd == 0.3
    ledger.close()
