"""ragstate.security.api_keys: constant-time key checks and the refusal to serve unguarded beyond loopback."""

from __future__ import annotations

import pytest

from ragstate.security.api_keys import ApiKeys, UnsafeBind, check_bind, is_loopback


@pytest.mark.parametrize(
    "headers, allowed",
    [
        ({"authorization": "Bearer k2"}, True),
        ({"x-api-key": "k1"}, True),
        ({"authorization": "bearer k1"}, True),
        ({}, False),
        ({"authorization": "Bearer k"}, False),
        ({"authorization": "Bearer k1x"}, False),
        ({"authorization": "Basic k1"}, False),
        ({"x-api-key": ""}, False),
    ],
)
def test_keys(headers, allowed):
    assert ApiKeys(["k1", "k2"]).allows(headers) is allowed


def test_no_keys_means_open():
    assert not ApiKeys([]).enabled and ApiKeys(["", ""]).allows({}) is True


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_needs_keys_or_insecure():
    with pytest.raises(UnsafeBind, match="without API keys"):
        check_bind("0.0.0.0", ApiKeys([]), insecure=False, what="gateway")
    check_bind("0.0.0.0", ApiKeys(["k"]), insecure=False, what="gateway")
    check_bind("0.0.0.0", ApiKeys([]), insecure=True, what="gateway")
    check_bind("127.0.0.1", ApiKeys([]), insecure=False, what="gateway")
