"""router.tls.check_exposure: without API keys the router listens on loopback only."""

from __future__ import annotations

import pytest

from router.tls import check_exposure


@pytest.mark.parametrize("listen", ["127.0.0.1:50051", "localhost:8080", "[::1]:50051", "127.0.0.2:0"])
def test_loopback_is_allowed_without_keys(listen: str) -> None:
    check_exposure(listen, authenticated=False, key="router.listen")


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "10.1.2.3:8080", "[::]:50051"])
def test_beyond_loopback_needs_keys(listen: str) -> None:
    with pytest.raises(
        OSError, match=r"router.listen .* is not a loopback address and authentication is off"
    ):
        check_exposure(listen, authenticated=False, key="router.listen")
    check_exposure(listen, authenticated=True, key="router.listen")  # with keys: anywhere
