"""The controller's desired state in the Ray GCS's internal key-value store.

A :class:`fleet.control.desired_store.DesiredStore` whose record lives in the GCS (key
``desired/<controller name>`` in the KV namespace ``edgefleet:<Ray namespace>``): it outlives the
controller actor, so the controller Ray restarts reads back the operator's scale, drains and the
policy last applied. It lives as long as the cluster's GCS (a GCS with external Redis keeps it
across GCS restarts too).
"""

from __future__ import annotations

import json
from typing import Any

from ray.experimental import internal_kv

from fleet.errors import FleetError


class GcsKvStore:
    """DesiredStore in the GCS internal KV (call from a process connected to Ray)."""

    def __init__(self, namespace: str, controller: str) -> None:
        self.kv_namespace = f"edgefleet:{namespace}"
        self.key = f"desired/{controller}"

    def load(self) -> dict[str, Any] | None:
        """The saved record, or None."""
        raw = internal_kv._internal_kv_get(self.key, namespace=self.kv_namespace)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise FleetError(f"the saved desired state is not JSON: {exc}") from exc
        return data if isinstance(data, dict) else None

    def save(self, record: dict[str, Any]) -> None:
        """Replace the saved record."""
        internal_kv._internal_kv_put(
            self.key, json.dumps(record, sort_keys=True), overwrite=True, namespace=self.kv_namespace
        )

    def delete(self) -> None:
        """Forget the saved record (the fleet was shut down on purpose)."""
        internal_kv._internal_kv_del(self.key, namespace=self.kv_namespace)
