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
