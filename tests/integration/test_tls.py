"""TLS and mutual TLS with the dev CA (cli.devtls): the router's gRPC and HTTP ports, a replica's
KServe server (with the fleet token), the stand-in over HTTPS; clients without the CA or without a
client certificate are refused. Everything on 127.0.0.1:0."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import grpc
import httpx
import numpy as np
import pytest

from cli.devtls import DevPki, dev_pki
from client import AsyncEdgeFleetClient, EdgeFleetError, RetryPolicy, TlsConfig
from edgefleet.constants import FLEET_TOKEN_METADATA
from edgefleet.policy.loader import parse_policy
from edgefleet.policy.schema import HostedConfig, StandInConfig
from edgefleet.policy.security_options import TlsClientConfig, TlsServerConfig
from edgefleet.replica_guard import ReplicaGuard
from fleet.serving.kserve_aio import AioKServeEndpoint, AioKServeServicer
from fleet.serving.kserve_server import KServeServicer, start_kserve
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from router.edge_client import EdgeClient
from router.errors import TargetError
from router.fleet_source import StaticFleet
from router.hosted.client import HostedClient
from router.server import RouterServer, serve
from standin.server import StandInServer
from tests.unit.router_fakes import POLICY_YAML, FakeEdge, FakeHosted, make_state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return dev_pki(tmp_path_factory.mktemp("tls"))


def _server_tls(pki: DevPki) -> TlsServerConfig:
    return TlsServerConfig(cert=str(pki.server_cert), key=str(pki.server_key), client_ca=str(pki.ca))


@pytest.fixture(scope="module")
async def tls_router(pki: DevPki) -> AsyncIterator[RouterServer]:
    server = await serve(
        parse_policy(POLICY_YAML),
        StaticFleet(make_state()),
        {"big": FakeHosted()},
        "127.0.0.1:0",
        edge=FakeEdge(),
        http_listen="127.0.0.1:0",
        tls=_server_tls(pki),
    )
    try:
        yield server
    finally:
        await server.stop(0)


async def test_router_grpc_with_mutual_tls(tls_router: RouterServer, pki: DevPki) -> None:
    tls = TlsConfig(root_ca=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
    async with AsyncEdgeFleetClient(tls_router.address, tls=tls, retry=RetryPolicy.never()) as ef:
        answer = await ef.infer("what is my balance", timeout_s=5)
        assert answer.result.label == "balance"
    for bad in (TlsConfig(root_ca=pki.ca), None):  # no client certificate; plaintext
        async with AsyncEdgeFleetClient(tls_router.address, tls=bad, retry=RetryPolicy.never()) as ef:
            with pytest.raises(EdgeFleetError) as info:
                await ef.infer("what is my balance", timeout_s=5)
            assert info.value.code == grpc.StatusCode.UNAVAILABLE


async def test_router_http_front_door_with_mutual_tls(tls_router: RouterServer, pki: DevPki) -> None:
    assert tls_router.http_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    async with httpx.AsyncClient(verify=context) as http:
        response = await http.get(f"{tls_router.http_url}/models", timeout=5)
        assert response.status_code == 200 and response.json()["data"]
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(pki.ca))) as http:
        with pytest.raises((httpx.HTTPError, ssl.SSLError)):
            await http.get(f"{tls_router.http_url}/models", timeout=5)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.HTTPError):
            await http.get(tls_router.http_url.replace("https", "http") + "/models", timeout=5)


@pytest.mark.parametrize("server", ["aio", "threaded"])
async def test_replica_needs_the_fleet_token_and_speaks_tls(pki: DevPki, server: str) -> None:
    """Both replica servers (grpc.aio batching for text models, threaded for LLMs and retrievers)."""
    guard = ReplicaGuard(
        token="fleet-secret",
        cert_pem=pki.server_cert.read_bytes(),
        key_pem=pki.server_key.read_bytes(),
        client_ca_pem=pki.ca.read_bytes(),
    )
    endpoint: Any = (
        AioKServeEndpoint(AioKServeServicer(None, replica="r1"), "127.0.0.1", 0, guard=guard)
        if server == "aio"
        else start_kserve(KServeServicer(None, replica="r1"), "127.0.0.1", 0, guard=guard)
    )
    address = f"127.0.0.1:{endpoint.port}"
    credentials = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes()
    )
    try:
        async with grpc.aio.secure_channel(address, credentials) as channel:
            stub = kserve_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ServerLive(kserve_pb2.ServerLiveRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ModelInfer(
                    kserve_pb2.ModelInferRequest(model_name="x"),
                    timeout=5,
                    metadata=((FLEET_TOKEN_METADATA, "no"),),
                )
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            live = await stub.ServerLive(
                kserve_pb2.ServerLiveRequest(), timeout=5, metadata=((FLEET_TOKEN_METADATA, "fleet-secret"),)
            )
            assert live.live
        edge = EdgeClient(token="fleet-secret", credentials=credentials)
        try:  # the router's client sends the token: the call gets past the interceptor to the servicer
            with pytest.raises(Exception, match="model not loaded"):
                await edge.infer(address, "m", "", ["hi"], "classify", 5.0)
        finally:
            await edge.aclose()
        async with grpc.aio.insecure_channel(address) as plain:  # plaintext to a TLS port
            stub = kserve_grpc.GRPCInferenceServiceStub(plain)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.ServerLive(kserve_pb2.ServerLiveRequest(), timeout=5)
    finally:
        endpoint.stop(0)


class _Labels:
    """A stand-in model with two labels (no OpenVINO needed)."""

    labels: ClassVar[list[str]] = ["a", "b"]

    def classify(self, texts: list[str]) -> np.ndarray:
        return np.tile(np.array([[0.9, 0.1]], dtype=np.float32), (len(texts), 1))

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32)


async def test_stand_in_over_https_with_a_client_certificate(pki: DevPki) -> None:
    server = StandInServer(_Labels(), tls=_server_tls(pki))
    url = server.start()
    try:
        assert url.startswith("https://127.0.0.1:")
        cfg = HostedConfig(
            name="big",
            stand_in=StandInConfig(),
            tls=TlsClientConfig(ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key)),
        )
        client = HostedClient(cfg, base_url=url)
        try:
            answer = await client.classify("hello", ["a", "b"], 5.0)
            assert answer.label == "a"
        finally:
            await client.aclose()
        no_cert = HostedClient(cfg.model_copy(update={"tls": TlsClientConfig(ca=str(pki.ca))}), base_url=url)
        try:
            with pytest.raises(TargetError):
                await no_cert.classify("hello", ["a", "b"], 5.0)
        finally:
            await no_cert.aclose()
    finally:
        server.stop()


def test_dev_pki_is_reused_and_private(pki: DevPki) -> None:
    again = dev_pki(pki.ca.parent)
    assert again.ca.read_bytes() == pki.ca.read_bytes()
    for key in (pki.server_key, pki.client_key, pki.ca.parent / "ca-key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600
