"""Per-deployment dynamic batching of text-model replicas (``deployments[].batching`` in
``edgefleet.yaml``), after Triton's dynamic batcher: concurrent requests for the replica's model are
coalesced into one OpenVINO inference of at most ``max_batch`` texts, waiting at most
``max_delay_us`` after the oldest queued request for more to arrive.

LLM and retriever deployments ignore it (LLMs batch with ``deployments[].llm``). A leaf module of the
kernel (pydantic only).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BatchingOptions(BaseModel):
    """How a text-model replica coalesces concurrent requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch: int = Field(
        32, ge=1, le=1024, description="most texts in one inference (1: no batching, one request at a time)"
    )
    max_delay_us: int = Field(
        500,
        ge=0,
        le=1_000_000,
        description="longest wait after the oldest queued request for more to join its batch (0: never wait; "
        "requests that arrive while an inference runs still join the next batch)",
    )
    adaptive: bool = Field(
        True,
        description="wait only as long as the measured arrival rate says more requests will come within "
        "max_delay_us (an idle replica answers at once; a busy one fills its batches)",
    )
