"""EdgeFleet's shared kernel: what every other package may import, and nothing heavier.

- :mod:`edgefleet.policy` — the typed schema of ``edgefleet.yaml`` and its loader.
- :mod:`edgefleet.state` — the published fleet snapshot (plain dataclasses and enums).
- :mod:`edgefleet.errors` — errors shared across packages (policy errors, unknown names).
- :mod:`edgefleet.stats` — the one percentile/summary helper.
- :mod:`edgefleet.constants` — default addresses and names.
- :mod:`edgefleet.kserve_codec` — KServe v2 BYTES/FP32 tensors <-> Python, for replicas and router.
- :mod:`edgefleet.openai_wire`, :mod:`edgefleet.tokens` — OpenAI-compatible JSON shapes and token
  estimates, shared by the hosted client and the offline stand-in.

The kernel imports neither grpc, Ray, OpenVINO nor Textual (checked by ``make lint``).
"""
