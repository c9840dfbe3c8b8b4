"""How long a Ray actor call costs for the same inference a KServe replica serves: the `tax`
benchmark's path (e), kept here because only the Ray adapter imports Ray."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ray


class ActorLatencyProbe:
    """A local Ray (``ray.init(address="local")``) with one actor holding a model's TextModel;
    ``measure`` times ``ray.get`` per call. Built in its own process (``bench.procs.Probe``)."""

    def __init__(self, model_path: str, texts: list[str], warmup: int, num_cpus: int = 2) -> None:
        t0 = time.perf_counter()
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            object_store_memory=100 * 1024 * 1024,
        )
        self.info = {"ray_init_s": time.perf_counter() - t0, "ray_version": ray.__version__}
        self._ray = ray

        @ray.remote(num_cpus=1)
        class ModelActor:
            def __init__(self, path: str) -> None:
                from fleet.models.manifest import load_bundle
                from fleet.serving.runtime import TextModel

                self.model = TextModel.load(load_bundle(Path(path)))

            def classify(self, batch: list[str]) -> Any:
                return self.model.classify(batch)

        self.actor = ModelActor.remote(model_path)  # type: ignore[attr-defined]
        self.texts = texts
        for i in range(warmup):
            ray.get(self.actor.classify.remote([texts[i % len(texts)]]))

    def measure(self, n: int, offset: int = 0) -> list[float]:
        """Latencies (ms) of `n` sequential actor calls."""
        out: list[float] = []
        for i in range(n):
            text = self.texts[(offset + i) % len(self.texts)]
            t0 = time.perf_counter()
            self._ray.get(self.actor.classify.remote([text]))
            out.append((time.perf_counter() - t0) * 1000.0)
        return out

    def close(self) -> None:
        """Shut the local Ray down."""
        self._ray.shutdown()
