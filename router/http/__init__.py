"""The router's OpenAI-compatible HTTP front door (``/v1/chat/completions``, ``/v1/embeddings``,
``/v1/models``): Starlette on uvicorn, in the router process, next to the gRPC server."""
