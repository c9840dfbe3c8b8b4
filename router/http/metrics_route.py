"""``GET /metrics`` on the router's HTTP port: the router's Prometheus metrics in the text
exposition format (:mod:`router.metrics`). Not behind the API keys, like any Prometheus target:
bind ``router.http_listen`` where only trusted scrapers reach it, or set ``router.metrics: false``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.metrics import RouterMetrics, RouterStateCollector


def metrics_route(metrics: RouterMetrics, state: RouterStateCollector) -> Route:
    """The ``/metrics`` route: the fleet state is read first, then every metric is rendered."""

    async def endpoint(request: Request) -> Response:
        await state.refresh()
        return Response(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return Route("/metrics", endpoint, methods=["GET"])
