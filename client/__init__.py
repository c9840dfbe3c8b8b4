"""EdgeFleet's Python client SDK: call a router's Router and Fleet services without raw stubs.

```python
from client import EdgeFleetClient, Retraction, TextDelta

with EdgeFleetClient("127.0.0.1:50051", api_key="KEY") as ef:
    answer = ef.infer("what is my checking account balance").result
    print(answer.label, answer.confidence, answer.served_by.tier, answer.cost_usd)
    with ef.generate("What is the capital of France?", max_tokens=64) as stream:
        for event in stream:
            if isinstance(event, TextDelta):
                print(event.text, end="")
    print(stream.result.served_by.model if stream.result else "")
    print(ef.fleet.get().traffic.rps, ef.fleet.scale("clinc-banking", 2).message)
```

`AsyncEdgeFleetClient` offers the same over asyncio. Deadlines are per call (`timeout_s`), only
UNAVAILABLE and RESOURCE_EXHAUSTED are retried (`RetryPolicy`), TLS is `TlsConfig`, and failures
raise `EdgeFleetError` subclasses (`client.errors`). The SDK imports only grpc, the generated
protos and the kernel.
"""

from client.async_client import AsyncEdgeFleetClient, AsyncFleetAPI
from client.base import DEFAULT_GENERATE_TIMEOUT_S, DEFAULT_TIMEOUT_S, ClientOptions
from client.channel import TlsConfig
from client.errors import (
    Cancelled,
    DeadlineExceeded,
    EdgeFleetError,
    InternalError,
    InvalidArgument,
    NotFound,
    Overloaded,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from client.generate import AsyncGenerateStream, GenerateStream
from client.requests import ChatMessage, GenerateOptions, InferOptions
from client.results import (
    ActionResult,
    GenerateEvent,
    GenerateResult,
    InferResponse,
    InferResult,
    LabelScore,
    Retraction,
    ServedBy,
    TextDelta,
    Tier,
    TraceStep,
)
from client.retry import RetryPolicy
from client.sync_client import EdgeFleetClient, FleetAPI

__all__ = [
    "DEFAULT_GENERATE_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "ActionResult",
    "AsyncEdgeFleetClient",
    "AsyncFleetAPI",
    "AsyncGenerateStream",
    "Cancelled",
    "ChatMessage",
    "ClientOptions",
    "DeadlineExceeded",
    "EdgeFleetClient",
    "EdgeFleetError",
    "FleetAPI",
    "GenerateEvent",
    "GenerateOptions",
    "GenerateResult",
    "GenerateStream",
    "InferOptions",
    "InferResponse",
    "InferResult",
    "InternalError",
    "InvalidArgument",
    "LabelScore",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "Retraction",
    "RetryPolicy",
    "ServedBy",
    "TextDelta",
    "Tier",
    "TlsConfig",
    "TraceStep",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]
