"""Per-deployment settings of edge LLM replicas (``deployments[].llm`` in ``edgefleet.yaml``).

Only deployments whose model is a generative model (manifest task ``generate``) read them;
every other deployment ignores them. A leaf module of the kernel (pydantic only).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LLMOptions(BaseModel):
    """How an LLM replica schedules generation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    continuous_batching: bool = Field(
        True,
        description="serve with OpenVINO GenAI's ContinuousBatchingPipeline (many streams share each "
        "step); false: one LLMPipeline generating one request at a time (for comparison)",
    )
    max_batch: int = Field(8, ge=1, le=256, description="most sequences generated together (max_num_seqs)")
    max_batched_tokens: int = Field(
        256, ge=16, le=16384, description="tokens per step; long prompts are prefilled in chunks of this size"
    )
    kv_cache_blocks: int = Field(
        0,
        ge=0,
        description="hard cap on KV-cache blocks (0: grow on demand); too small a cap ignores long prompts",
    )
    prefix_caching: bool = Field(False, description="reuse the KV cache of shared prompt prefixes")
    max_tokens_limit: int = Field(1024, ge=1, le=4096, description="largest max_tokens a request may ask for")
