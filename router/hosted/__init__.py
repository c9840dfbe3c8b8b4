"""The hosted tier: a client for OpenAI-compatible endpoints and an offline STAND-IN server.

``HostedClient`` talks to any OpenAI-compatible API (OpenAI, Azure, vLLM,
Ollama, OVMS, LiteLLM...) with retries, backoff and a circuit breaker.
``StandInServer`` (in :mod:`standin.server`, imported lazily because it
needs OpenVINO) is a local stand-in for a large hosted model.
"""

from router.circuit import CircuitBreaker
from router.hosted.client import HostedAnswer, HostedClient

__all__ = ["CircuitBreaker", "HostedAnswer", "HostedClient"]
