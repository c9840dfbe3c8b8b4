"""The chaos suite's router: its own process, so that it can be restarted (or stopped) while the
fleet and the load go on. It joins the running Ray cluster, follows the controller's fleet state
(:class:`fleet.ray_adapter.fleet_source.RayFleetSource`), calls the hosted endpoints of the policy
(the chaos proxy), and serves on the policy's ``router.listen``. SIGTERM/SIGINT stop it the way
``edgefleet down`` stops a fleet's router: health NOT_SERVING, no new calls, the calls in flight
answered (:meth:`router.server.RouterServer.stop`).

``python -m bench.chaos.router_proc --config POLICY --ready-file FILE``: FILE receives the bound
address once it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from edgefleet.policy.loader import load_policy

log = logging.getLogger("edgefleet.chaos.router")
CLEANUP_S = 5.0  # each step after the router stopped


async def serve_until_signalled(config: Path, ready_file: Path, ray_address: str | None) -> None:
    """Run the router until SIGTERM/SIGINT, then stop it gracefully."""
    from fleet.ray_adapter.fleet_source import RayFleetSource
    from router.hosted import HostedClient
    from router.server import serve

    policy = load_policy(config)
    stop = asyncio.Event()
    source = await RayFleetSource.connect(
        policy.fleet.namespace, policy.fleet.controller_name, ray_address, poll_timeout_s=2.0, retry_s=0.5
    )
    # after joining Ray: ray.init replaces SIGTERM's handler with one that exits at once (and Ray's
    # core worker may dump and crash on it); ours stops the router gracefully
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    hosted = {h.name: HostedClient(h) for h in policy.hosted}
    try:
        server = await serve(
            policy, source, hosted, policy.router.listen, policy_path=config, http_listen=None
        )
        try:
            await asyncio.to_thread(ready_file.write_text, server.address, "utf-8")
            log.info("chaos router serving on %s", server.address)
            await stop.wait()
            log.info("chaos router stopping")
        finally:
            await server.stop()  # what it accepted is answered; the ledger and logs are written
            log.info("chaos router stopped")
    finally:
        for client in hosted.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), CLEANUP_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(source.aclose(), CLEANUP_S)
        log.info("chaos router closed its clients")


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve_until_signalled(args.config, args.ready_file, args.ray_address))
    log.info("chaos router exits")
    logging.shutdown()
    os._exit(0)  # leaving Ray's driver can hang at interpreter exit; nothing is left to write


if __name__ == "__main__":
    sys.exit(main())
