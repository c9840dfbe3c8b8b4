"""API-key authentication from metadata."""

from __future__ import annotations

import pytest

from router.auth import ApiKeys, presented_key
from router.errors import Unauthenticated


def test_disabled_accepts_anything() -> None:
    ApiKeys.from_env(None).check([])
    assert not ApiKeys.from_env(None).enabled


def test_bearer_and_x_api_key() -> None:
    keys = ApiKeys.from_env("EF_KEYS", {"EF_KEYS": " k1 , k2,"})
    keys.check([("authorization", "Bearer k1")])
    keys.check([("x-api-key", b"k2")])
    keys.check([("Authorization", "bearer   k2 ")])


def test_wrong_missing_and_unset_keys() -> None:
    keys = ApiKeys.from_env("EF_KEYS", {"EF_KEYS": "k1"})
    with pytest.raises(Unauthenticated, match="invalid API key"):
        keys.check([("authorization", "Bearer nope")])
    with pytest.raises(Unauthenticated, match="missing API key"):
        keys.check([("authorization", "Basic abc")])
    with pytest.raises(Unauthenticated, match="missing API key"):
        keys.check(None)
    with pytest.raises(Unauthenticated, match=r"\$EF_KEYS holds none"):
        ApiKeys.from_env("EF_KEYS", {}).check([("x-api-key", "k1")])


def test_presented_key() -> None:
    assert presented_key([("user-agent", "x"), ("x-api-key", " k ")]) == "k"
    assert presented_key([("authorization", "Bearer")]) is None


def test_env_entries_carry_ids_and_roles() -> None:
    keys = ApiKeys.from_env(
        "EF_KEYS", {"EF_KEYS": "plain, viewer:v-secret, ops:operator:o:secret:with:colons"}
    )
    app = keys.authenticate([("authorization", "Bearer plain")])
    assert app.role == "app" and app.key_id.startswith("key-") and "plain" not in app.key_id
    assert keys.authenticate([("x-api-key", "v-secret")]).role == "viewer"
    ops = keys.authenticate([("x-api-key", "o:secret:with:colons")])
    assert (ops.key_id, ops.role) == ("ops", "operator")


def test_roles_grant_their_rights_only() -> None:
    from router.errors import PermissionDenied

    keys = ApiKeys.from_env("EF_KEYS", {"EF_KEYS": "shop:app:a,watch:viewer:v,ops:operator:o"})
    assert keys.authorize([("x-api-key", "a")], "route").key_id == "shop"
    for key, right in (("a", "read"), ("a", "operate"), ("v", "operate"), ("v", "route")):
        with pytest.raises(PermissionDenied, match="may not") as info:
            keys.authorize([("x-api-key", key)], right)  # type: ignore[arg-type]
        assert key not in str(info.value).replace("'", " ").split()  # the message names the id, never the key
    for right in ("route", "read", "operate"):
        keys.authorize([("x-api-key", "o")], right)  # type: ignore[arg-type]


def test_only_digests_are_kept_and_messages_never_hold_a_key() -> None:
    keys = ApiKeys.from_env("EF_KEYS", {"EF_KEYS": "ops:operator:super-secret-value"})
    assert "super-secret-value" not in repr(keys.records) and "super-secret-value" not in repr(vars(keys))
    with pytest.raises(Unauthenticated) as info:
        keys.check([("x-api-key", "super-secret-valuX")])
    assert "super-secret" not in str(info.value)


def test_keys_file_and_env_together(tmp_path: object) -> None:
    from pathlib import Path

    from edgefleet.policy.security_options import KeyLimits
    from router.keyfile import add_key

    path = Path(str(tmp_path)) / "keys.yaml"
    key = add_key(path, "filed", "viewer", rate_per_s=3)
    keys = ApiKeys.load("EF_KEYS", path, KeyLimits(), environ={"EF_KEYS": "envkey"})
    assert keys.authenticate([("x-api-key", key)]).limits.rate_per_s == 3
    assert keys.authenticate([("x-api-key", "envkey")]).role == "app"
    assert keys.sources == ("$EF_KEYS", str(path))
    with pytest.raises(ValueError, match="duplicate key id"):
        ApiKeys.load("EF_KEYS", path, KeyLimits(), environ={"EF_KEYS": "filed:app:x"})


def test_anonymous_caller_gets_the_default_limits_when_auth_is_off() -> None:
    from edgefleet.policy.security_options import KeyLimits

    keys = ApiKeys.load(None, None, KeyLimits(rate_per_s=7))
    caller = keys.check(None)
    assert caller.key_id == "" and caller.role == "operator" and caller.limits.rate_per_s == 7
