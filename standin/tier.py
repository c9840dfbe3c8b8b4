"""HostedTier: every hosted endpoint of a policy, with stand-ins started where needed.

For each ``HostedConfig``: when it has a ``base_url`` a :class:`HostedClient`
talks to it; otherwise its ``stand_in`` block asks for the offline STAND-IN,
which is loaded from the model registry and started on 127.0.0.1 first, and
the client is pointed at it. :meth:`HostedTier.aclose` closes every client and
stops every stand-in it started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from pathlib import Path

from edgefleet.policy.schema import HostedConfig
from router.hosted.client import HostedClient
from standin.server import StandInServer

log = logging.getLogger("edgefleet.hosted")


class HostedTier:
    """Clients by endpoint name, plus the stand-in servers this tier owns."""

    def __init__(self, clients: dict[str, HostedClient], stand_ins: dict[str, StandInServer]) -> None:
        self.clients = clients
        self.stand_ins = stand_ins

    @classmethod
    async def start(
        cls, configs: Sequence[HostedConfig], registry: Path, warm_llm: Collection[str] = ()
    ) -> HostedTier:
        """Start stand-ins (model load off the event loop) and build one client per endpoint; the
        stand-ins named in `warm_llm` (generation fallbacks) load their LLM in the background now.

        Raises what loading a stand-in's model raises (fleet.errors.ModelLoadError, with a
        clear message) after stopping anything already started.
        """
        clients: dict[str, HostedClient] = {}
        stand_ins: dict[str, StandInServer] = {}
        try:
            for cfg in configs:
                base_url = cfg.base_url
                if base_url is None and cfg.stand_in is not None:
                    server = await asyncio.to_thread(StandInServer.from_registry, registry, cfg.stand_in)
                    stand_ins[cfg.name] = server
                    base_url = await asyncio.to_thread(server.start)
                    if cfg.name in warm_llm:
                        server.warm_llm()
                    log.info("hosted endpoint %r uses the offline STAND-IN at %s", cfg.name, base_url)
                clients[cfg.name] = HostedClient(cfg, base_url=base_url)
        except BaseException:
            await cls(clients, stand_ins).aclose()
            raise
        return cls(clients, stand_ins)

    def client(self, name: str) -> HostedClient:
        """The client of endpoint `name` (KeyError if absent)."""
        return self.clients[name]

    async def aclose(self) -> None:
        """Close every client and stop every stand-in this tier started."""
        for client in self.clients.values():
            await client.aclose()
        for server in self.stand_ins.values():
            await asyncio.to_thread(server.stop)
        self.clients, self.stand_ins = {}, {}
