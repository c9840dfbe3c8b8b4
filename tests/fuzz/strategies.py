"""Hypothesis strategies for random and adversarial inputs: huge fields, wrong types, invalid
UTF-8, NaN/inf, negative and zero limits, path traversal names, Rich markup, deep nesting, YAML
aliases, and byte-level mutations of well-formed messages."""

from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import strategies as st

from protos.edgefleet.v1 import router_pb2
from protos.inference import grpc_service_pb2 as kserve_pb2

NASTY = [
    "",
    " ",
    "\x00",
    "\t\n\r",
    "[/]",
    "[link=https://evil.example]click[/link]",
    "[bold red]x",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/shadow",
    "%s%s%n",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "\u202eevil",
    "\ufeff",
    "A" * 129,
    "é" * 5000,
    "😀" * 3000,
    "' OR 1=1 --",
    "<script>alert(1)</script>",
]
FLOATS = [0.0, -0.0, -1.0, 1e-300, 5e-324, 1e308, -1e308, float("nan"), float("inf"), float("-inf")]
INTS = [0, -1, 1, 2**31 - 1, -(2**31), 4096, 4097, 10_000]


def texts(max_size: int = 60) -> st.SearchStrategy[str]:
    """Ordinary, nasty and huge strings (no lone surrogates: protobuf cannot carry them)."""
    return st.one_of(
        st.text(max_size=max_size),
        st.sampled_from(NASTY),
        st.integers(0, 400_000).map(lambda n: "x" * n),
        st.sampled_from(["what is my balance", "transfer money", "book a flight"]),
    )


def floats() -> st.SearchStrategy[float]:
    """Any double, NaN and infinities included."""
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(FLOATS))


def ints(lo: int = -(2**31), hi: int = 2**31 - 1) -> st.SearchStrategy[int]:
    """Any int in range, with the edges."""
    return st.one_of(st.integers(lo, hi), st.sampled_from([i for i in INTS if lo <= i <= hi]))


def constraints() -> st.SearchStrategy[router_pb2.Constraints]:
    """Constraints with every field set, unset, or absurd."""
    return st.builds(
        lambda **kw: router_pb2.Constraints(**{k: v for k, v in kw.items() if v is not None}),
        max_latency_ms=st.none() | floats(),
        max_cost_usd=st.none() | floats(),
        min_confidence=st.none() | floats(),
    )


def often(sensible: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`sensible` three times in four, else `hostile` (so the deep paths are reached too)."""
    return st.one_of(sensible, sensible, sensible, hostile)


PLAIN = st.sampled_from(["what is my balance", "transfer money", "book a flight", "hello there"])


@st.composite
def infer_requests(draw: st.DrawFn) -> router_pb2.InferRequest:
    """InferRequest messages, from sensible to hostile."""
    msg = router_pb2.InferRequest(
        request_id=draw(often(st.just(""), texts(40))),
        task=draw(
            often(
                st.sampled_from(["classify", "classify", "embed"]),
                st.sampled_from(["generate", "", "X"]) | texts(20),
            )
        ),
        domain=draw(often(st.just(""), texts(20))),
        route=draw(often(st.sampled_from(["", "intents", "embed"]), st.sampled_from(["chat"]) | texts(20))),
    )
    mode = draw(st.sampled_from(["text", "text", "texts", "both", "none"]))
    if mode in ("text", "both"):
        msg.text = draw(often(PLAIN, texts()))
    if mode in ("texts", "both"):
        msg.texts.extend(draw(st.lists(often(PLAIN, texts(30)), max_size=24)))
    if draw(st.booleans()):
        msg.constraints.CopyFrom(draw(constraints()))
    return msg


def generate_requests() -> st.SearchStrategy[router_pb2.GenerateRequest]:
    """GenerateRequest messages, from sensible to hostile."""

    def build(**kw: Any) -> router_pb2.GenerateRequest:
        return router_pb2.GenerateRequest(**{k: v for k, v in kw.items() if v is not None})

    message = st.builds(
        router_pb2.ChatMessage,
        role=often(st.just("user"), st.sampled_from(["system", "assistant", "tool", ""]) | texts(10)),
        content=often(PLAIN, texts()),
    )
    gc = st.builds(
        lambda **kw: router_pb2.GenerateConstraints(**{k: v for k, v in kw.items() if v is not None}),
        max_time_to_first_token_ms=st.none() | floats(),
        max_latency_ms=st.none() | floats(),
        max_cost_usd=st.none() | floats(),
        min_confidence=st.none() | floats(),
    )
    return st.builds(
        build,
        request_id=often(st.just(""), texts(40)),
        messages=st.lists(message, min_size=0, max_size=12),
        max_tokens=often(st.integers(1, 64), ints()),
        temperature=often(st.none(), floats()),
        top_p=often(st.none(), floats()),
        stop=often(st.just([]), st.lists(texts(70), max_size=6)),
        seed=st.none() | st.integers(-(2**63), 2**63 - 1),
        constraints=often(st.none(), gc),
        route=often(st.sampled_from(["", "chat"]), st.sampled_from(["intents"]) | texts(20)),
        domain=often(st.just(""), texts(20)),
        allow_retraction=st.booleans(),
    )


@st.composite
def mutated(draw: st.DrawFn, message: st.SearchStrategy[Any]) -> bytes:
    """A message's wire bytes, as they are or broken: truncated, a byte flipped, invalid UTF-8
    spliced into a string, random bytes, or huge varints."""
    data = draw(message).SerializeToString()
    kind = draw(st.sampled_from(["as-is"] * 6 + ["truncate", "flip", "utf8", "random", "varint"]))
    if kind == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    if kind == "utf8":
        junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        return data + b"\x1a" + bytes([len(junk)]) + junk  # field 3 (a string in both messages), bad bytes
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "varint":
        return data + b"\x18" + b"\xff" * 10 + b"\x01"  # field 3 as an over-long varint
    return data


def _text_tensor(draw: st.DrawFn) -> kserve_pb2.ModelInferRequest.InferInputTensor:
    tensor = kserve_pb2.ModelInferRequest.InferInputTensor(
        name=draw(st.sampled_from(["TEXT", "text_input", "messages", "", "INPUT0"]) | texts(10)),
        datatype=draw(st.sampled_from(["BYTES", "FP32", "INT64", "", "BOOL"]) | texts(8)),
        shape=draw(
            st.lists(st.integers(-(2**62), 2**62), max_size=4) | st.lists(st.integers(-2, 40), max_size=3)
        ),
    )
    items = draw(st.lists(st.binary(max_size=40) | texts(30).map(str.encode), max_size=20))
    tensor.contents.bytes_contents.extend(items)
    if draw(st.booleans()):
        tensor.contents.fp32_contents.extend(draw(st.lists(floats(), max_size=5)))
    return tensor


@st.composite
def model_infer_requests(draw: st.DrawFn, model_names: tuple[str, ...]) -> kserve_pb2.ModelInferRequest:
    """KServe v2 ModelInferRequest messages: names, datatypes and shapes random or absurd, BYTES
    as contents or raw (length-prefixed, or lying about the lengths), parameters of every kind."""
    request = kserve_pb2.ModelInferRequest(
        model_name=draw(st.sampled_from([*model_names * 6, "nope", "../x", "[/]"])),
        model_version=draw(st.sampled_from(["", "", "", "1", "1", "2", "../../x"])),
        id=draw(often(st.just("r"), texts(20))),
    )
    if draw(st.integers(0, 3)):  # mostly the one input the replica expects
        name = "text_input" if "llm" in model_names[0] else "TEXT"
        items = draw(st.lists(PLAIN.map(str.encode) | st.binary(max_size=20), min_size=1, max_size=20))
        tensor = request.inputs.add(name=name, datatype="BYTES", shape=[len(items)])
        tensor.contents.bytes_contents.extend(items)
    else:
        for _ in range(draw(st.integers(0, 3))):
            request.inputs.append(_text_tensor(draw))
    if draw(st.booleans()):
        items = draw(st.lists(st.binary(max_size=30), max_size=20))
        raw = b"".join(struct.pack("<I", len(i)) + i for i in items)
        if draw(st.booleans()):
            raw += struct.pack("<I", draw(st.integers(0, 2**32 - 1)))  # a length that lies
        request.raw_input_contents.append(raw)
    for _ in range(draw(st.integers(0, 4))):
        key = draw(
            st.sampled_from(["task", "max_tokens", "temperature", "top_p", "seed", "stop", "top_k"])
            | texts(10)
        )
        value = request.parameters[key]
        which = draw(st.sampled_from(["string", "int", "double", "bool"]))
        if which == "string":
            value.string_param = draw(texts(50))
        elif which == "int":
            value.int64_param = draw(st.integers(-(2**63), 2**63 - 1))
        elif which == "double":
            value.double_param = draw(floats())
        else:
            value.bool_param = draw(st.booleans())
    for name in draw(
        st.lists(st.sampled_from(["PROBS", "LABEL", "EMBEDDING", "text_output"]) | texts(8), max_size=3)
    ):
        request.outputs.add(name=name)
    return request


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON value (nested), with nasty strings and numbers."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts(40)
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=5) | st.dictionaries(texts(10), children, max_size=5),
        max_leaves=max_leaves,
    )


@st.composite
def chat_bodies(draw: st.DrawFn) -> bytes:
    """Bodies for POST /v1/chat/completions: plausible OpenAI requests with fields fuzzed, random
    JSON, deep nesting, NaN, invalid UTF-8, or not JSON at all."""
    kind = draw(st.sampled_from(["plausible", "plausible", "plausible", "random", "deep", "nan", "bytes"]))
    if kind == "plausible":
        body: dict[str, Any] = {
            "model": draw(st.sampled_from(["edgefleet/auto", "chat", "intents", "nope"]) | texts(20)),
            "messages": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "role": st.sampled_from(["user", "system", "assistant", "tool"]) | texts(8),
                            "content": texts(),
                        }
                    )
                    | json_values(5),
                    max_size=6,
                )
                | json_values(5)
            ),
        }
        for key, value in (
            ("max_tokens", ints() | json_values(3)),
            ("temperature", st.floats(allow_nan=False) | json_values(3)),
            ("stream", st.booleans() | json_values(2)),
            ("n", ints() | json_values(2)),
            ("stop", st.lists(texts(70), max_size=6) | json_values(3)),
            (
                "edgefleet",
                st.fixed_dictionaries({"max_latency_ms": ints() | json_values(2)}) | json_values(4),
            ),
            ("tools", json_values(4)),
        ):
            if draw(st.booleans()):
                body[key] = draw(value)
        return json.dumps(body).encode()
    if kind == "random":
        return json.dumps(draw(json_values())).encode()
    if kind == "deep":
        depth = draw(st.integers(100, 100_000))
        return b"[" * depth + b"]" * depth
    if kind == "nan":
        return b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'
    return draw(st.binary(max_size=300)) + b"\xff\xfe"


@st.composite
def policy_texts(draw: st.DrawFn, valid_base: str) -> str:
    """Policy YAML: the valid policy with a value replaced, random YAML, alias bombs, recursive
    aliases, deep nesting, huge texts, traversal names, tabs and control characters."""
    kind = draw(
        st.sampled_from(["edit", "edit", "random", "bomb", "recursive", "deep", "huge", "names", "junk"])
    )
    if kind == "edit":
        import yaml

        data = yaml.safe_load(valid_base)
        section = draw(st.sampled_from(["router", "fleet", "deployments", "hosted", "routes"]))
        value = draw(json_values(8))
        if section in ("router", "fleet"):
            key = draw(
                st.sampled_from(
                    ["max_inflight", "limits", "listen", "max_batch", "max_replicas_per_node", "tls"]
                )
                | texts(12)
            )
            data.setdefault(section, {})
            if isinstance(data[section], dict):
                data[section][key] = value
        else:
            items = data.get(section) or [{}]
            item = dict(items[draw(st.integers(0, len(items) - 1))])
            key = draw(
                st.sampled_from(["name", "model", "replicas", "resources", "targets", "price_per_call_usd"])
                | texts(12)
            )
            item[key] = value
            data[section] = [*items, item]
        return yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True)
    if kind == "random":
        import yaml

        return yaml.dump(draw(json_values()), Dumper=yaml.CSafeDumper, allow_unicode=True)
    if kind == "bomb":
        width, depth = draw(st.integers(2, 12)), draw(st.integers(2, 12))
        lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
        return "\n".join(lines)
    if kind == "recursive":
        return draw(st.sampled_from(["a: &a [*a]", "a: &a {b: *a}", "version: 1\nrouter: &r {x: *r}"]))
    if kind == "deep":
        depth = draw(st.integers(50, 20_000))
        return "[" * depth + "]" * depth
    if kind == "huge":
        return "version: 1\nregistry: '" + "x" * draw(st.integers(1 << 20, (1 << 20) + 5000)) + "'\n"
    if kind == "names":
        bad = draw(st.sampled_from(["../../etc", "a/b", "..", "/abs", ".hidden", "[/]", "x" * 300]))
        return f"version: 1\nmodels: [{{name: m, version: '{bad}'}}]\ndeployments: [{{name: d, model: '{bad}'}}]\n"
    return draw(st.text(max_size=300))


def plausible_infer_requests() -> st.SearchStrategy[router_pb2.InferRequest]:
    """Well-formed InferRequests that mostly route (deep paths: detection, escalation, budgets)."""
    cons = st.builds(
        lambda **kw: router_pb2.Constraints(**{k: v for k, v in kw.items() if v is not None}),
        max_latency_ms=st.none() | st.floats(1, 5000),
        max_cost_usd=st.none() | st.floats(0, 0.01),
        min_confidence=st.none() | st.floats(0, 1),
    )
    return st.builds(
        router_pb2.InferRequest,
        request_id=st.text(alphabet="abcdef0123456789-", max_size=40),
        task=st.sampled_from(["classify", "classify", "embed"]),
        texts=st.lists(PLAIN | st.text(min_size=1, max_size=200).filter(str.strip), min_size=1, max_size=16),
        constraints=st.none() | cons,
    )
