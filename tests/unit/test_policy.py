"""Policy parsing and validation: errors name the key path and the line."""

from pathlib import Path

import pytest

from edgefleet.errors import PolicyError
from edgefleet.policy import load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
version: 1
deployments:
  - name: spec
    model: clinc-banking
hosted:
  - name: big
    base_url: http://127.0.0.1:9/v1
routes:
  - name: r
    task: classify
    specialists: {banking: [spec]}
    fallback: big
"""


def issues(text: str) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, source="t.yaml")
    return [str(i) for i in exc.value.issues]


def test_default_policy_is_valid() -> None:
    policy = load_policy(ROOT / "edgefleet.yaml")
    assert policy.routes[0].domain_model == "domain-router"
    assert len(policy.fleet.simulated_nodes) >= 2
    labels = [n.labels for n in policy.fleet.simulated_nodes]
    assert labels[0] != labels[1]


def test_minimal_policy_parses_with_defaults() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.router.max_batch == 64
    assert policy.deployment("spec").replicas == 1
    assert policy.hosted_endpoint("big").retries == 2


def test_deployment_precision_defaults_to_auto_and_is_checked() -> None:
    assert parse_policy(MINIMAL).deployment("spec").precision == "auto"
    for value in ("f32", "bf16"):
        text = MINIMAL.replace(
            "    model: clinc-banking\n", f"    model: clinc-banking\n    precision: {value}\n"
        )
        assert parse_policy(text).deployment("spec").precision == value
    text = MINIMAL.replace("    model: clinc-banking\n", "    model: clinc-banking\n    precision: fp16\n")
    (msg,) = issues(text)
    assert msg.startswith("line 5: deployments[0].precision:") and "'auto', 'f32' or 'bf16'" in msg


def test_unknown_key_names_path_and_line() -> None:
    text = MINIMAL.replace("    model: clinc-banking\n", "    model: clinc-banking\n    replicass: 3\n")
    assert issues(text) == ["line 5: deployments[0].replicass: unknown key"]


def test_wrong_type_names_path_and_line() -> None:
    text = MINIMAL + "router:\n  max_batch: many\n"
    (msg,) = issues(text)
    assert msg.startswith("line 14: router.max_batch:")
    assert "integer" in msg


def test_dangling_deployment_in_route() -> None:
    text = MINIMAL.replace("{banking: [spec]}", "{banking: [nope]}")
    (msg,) = issues(text)
    assert "line 11: routes[0].specialists.banking[0]: unknown deployment 'nope'" in msg


def test_dangling_fallback() -> None:
    text = MINIMAL.replace("fallback: big", "fallback: huge")
    (msg,) = issues(text)
    assert msg.startswith("line 12: routes[0].fallback: unknown hosted endpoint 'huge'")


def test_deferred_escalations_need_a_queue_file() -> None:
    text = MINIMAL.replace("fallback: big", "fallback: big\n    defer_escalations: true")
    (msg,) = issues(text)
    assert "routes[0].defer_escalations: needs a fallback and router.deferred_queue" in msg
    policy = parse_policy("router: {deferred_queue: run/deferred.db}\n" + text)
    assert policy.routes[0].defer_escalations and policy.router.deferred_queue == "run/deferred.db"
    assert policy.router.edge_retries == 1 and policy.hosted[0].idempotency_header == "Idempotency-Key"
    assert policy.router.edge_circuit.slow_call_ms == 250 and policy.hosted[0].circuit.slow_call_ms == 1000


def test_duplicate_key_is_an_error() -> None:
    text = MINIMAL + "version: 1\n"
    assert issues(text) == ["line 13: version: duplicate key"]


def test_duplicate_names_are_an_error() -> None:
    text = MINIMAL.replace(
        "    model: clinc-banking\n", "    model: clinc-banking\n  - name: spec\n    model: x\n"
    )
    assert any("deployments[1].name: duplicate name 'spec'" in m for m in issues(text))


def test_yaml_syntax_error_has_line() -> None:
    (msg,) = issues("router:\n  listen: [unclosed\n")
    assert msg.startswith(("line 3:", "line 2:"))
    assert "YAML syntax" in msg


def test_not_a_mapping() -> None:
    assert issues("- 1\n- 2\n") == ["line 1: <root>: the policy must be a mapping of keys"]


def test_route_without_candidates() -> None:
    text = MINIMAL + "  - name: empty\n    task: embed\n"
    (msg,) = issues(text)
    assert "routes[1]" in msg and "no candidates" in msg


def test_hosted_needs_url_or_stand_in() -> None:
    text = MINIMAL.replace("    base_url: http://127.0.0.1:9/v1\n", "")
    (msg,) = issues(text)
    assert msg.startswith("line 6: hosted[0]:") and "stand_in" in msg


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read file"):
        load_policy(tmp_path / "absent.yaml")


def test_bad_value_ranges() -> None:
    text = MINIMAL.replace("    fallback: big\n", "    fallback: big\n    min_confidence: 1.5\n")
    (msg,) = issues(text)
    assert msg.startswith("line 13: routes[0].min_confidence:")


GENERATE = """\
version: 1
deployments:
  - {name: llm, model: smollm2}
hosted:
  - {name: big, base_url: http://127.0.0.1:9/v1}
routes:
  - name: chat
    task: generate
    targets: [llm]
    fallback: big
"""


def test_generate_route_defaults_and_keys() -> None:
    route = parse_policy(GENERATE).routes[0]
    assert route.task == "generate" and route.edge_stream == "buffered" and route.max_tokens is None
    route = parse_policy(GENERATE + "    edge_stream: immediate\n    max_tokens: 128\n").routes[0]
    assert route.edge_stream == "immediate" and route.max_tokens == 128
    policy = parse_policy(GENERATE)
    assert policy.router.max_prompt_chars > policy.router.max_text_chars
    assert policy.router.generate_timeout_ms > policy.router.default_timeout_ms


def test_bad_edge_stream_and_max_tokens_name_the_key() -> None:
    (msg,) = issues(GENERATE + "    edge_stream: eventually\n")
    assert msg.startswith("line 11: routes[0].edge_stream:") and "'buffered' or 'immediate'" in msg
    (msg,) = issues(GENERATE + "    max_tokens: 0\n")
    assert msg.startswith("line 11: routes[0].max_tokens:")
    (msg,) = issues(GENERATE + "    max_tokens: 100000\n")
    assert msg.startswith("line 11: routes[0].max_tokens:") and "4096" in msg


def test_keys_of_the_wrong_task_are_errors() -> None:
    got = issues(GENERATE + "    domain_model: llm\n    escalate_labels: [oos]\n")
    assert got == [
        "line 11: routes[0].domain_model: does not apply to task 'generate' (no domain detection or "
        "labels: name the domain in the request)",
        "line 12: routes[0].escalate_labels: does not apply to task 'generate' (no domain detection or "
        "labels: name the domain in the request)",
    ]
    (msg,) = issues(MINIMAL + "    edge_stream: immediate\n")
    assert msg == "line 13: routes[0].edge_stream: applies to task 'generate' only, not 'classify'"


def test_alias_bombs_recursion_and_huge_texts_are_refused_quickly() -> None:
    import time

    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    start = time.perf_counter()
    for text, message in (
        ("\n".join(levels), "expands to more than 100000 nodes"),
        ("a: &a [*a]", "expands to more than"),
        ("x: '" + "y" * (2 << 20) + "'", "the limit is 1048576"),
        ("[" * 50_000 + "]" * 50_000, "YAML"),
        ("version: 1\x00", "YAML syntax"),
    ):
        with pytest.raises(PolicyError, match=message):
            parse_policy(text)
    assert time.perf_counter() - start < 30  # (generous: the point is that it returns)


def test_names_that_become_registry_paths_are_checked_in_the_policy() -> None:
    for bad in ("../x", "a/b", "..", ".hidden", ""):
        with pytest.raises(PolicyError, match=r"string_pattern_mismatch|should match pattern"):
            parse_policy(f"version: 1\ndeployments: [{{name: d, model: '{bad}'}}]")
        with pytest.raises(PolicyError, match="should match pattern"):
            parse_policy(f"version: 1\nmodels: [{{name: m, version: '{bad}'}}]")


def test_replicas_over_the_cap_and_limits_are_checked() -> None:
    with pytest.raises(PolicyError, match=r"exceeds fleet\.max_replicas_per_deployment=32"):
        parse_policy("version: 1\ndeployments: [{name: d, model: m, replicas: 33}]")
    with pytest.raises(PolicyError, match=r"router\.limits\.stream_window"):
        parse_policy("version: 1\nrouter: {limits: {stream_window: 0}}")
    policy = parse_policy("version: 1")
    assert policy.router.limits.max_request_id_chars == 128 and policy.fleet.kserve.max_batch == 64
    assert policy.router.api_keys_env is None and policy.router.tls is None and not policy.router.redact_text
