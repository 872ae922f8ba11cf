"""ProbeSpec: defaults, immutability and the addresses it derives."""

from __future__ import annotations

import dataclasses

import pytest

from mooring.health import ProbeResult, ProbeSpec
from mooring.health.result import format_seconds, one_line


def test_defaults_match_the_documented_ones() -> None:
    spec = ProbeSpec("http", port=8080)
    assert (spec.host, spec.path, spec.scheme) == ("127.0.0.1", "/", "http")
    assert (spec.interval, spec.timeout, spec.retries, spec.start_period) == (10.0, 5.0, 3, 0.0)
    assert spec.expected_status is None and spec.http_host is None and spec.grpc_service == ""


def test_spec_is_frozen_and_keeps_a_private_copy_of_env() -> None:
    env = {"A": "1"}
    spec = ProbeSpec("exec", command=("true",), env=env)
    env["A"] = "2"
    assert spec.env == {"A": "1"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.env["A"] = "3"  # type: ignore[index]


def test_specs_with_env_compare_and_hash() -> None:
    a = ProbeSpec("exec", command=("true",), env={"A": "1"})
    b = ProbeSpec("exec", command=("true",), env={"A": "1"})
    assert a == b and hash(a) == hash(b)
    assert a != dataclasses.replace(a, env={"A": "2"})


def test_address_and_url_bracket_ipv6_and_default_the_port() -> None:
    assert ProbeSpec("http", host="::1", port=8080, path="/healthz").url == "http://[::1]:8080/healthz"
    assert ProbeSpec("http", scheme="https").address == "127.0.0.1:443"
    assert ProbeSpec("tcp", port=5432).describe() == "tcp connect 127.0.0.1:5432"
    assert ProbeSpec("exec", command=("sh", "-c", "exit 0")).describe() == "exec sh -c 'exit 0'"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "tcp"},  # no port
        {"kind": "grpc"},
        {"kind": "exec"},  # no command
        {"kind": "http", "timeout": 0},
        {"kind": "http", "retries": 0},
        {"kind": "http", "path": "healthz"},
    ],
)
def test_internal_invariants_are_asserted(kwargs: dict[str, object]) -> None:
    with pytest.raises(AssertionError):
        ProbeSpec(**kwargs)  # type: ignore[arg-type]


def test_result_to_dict_is_json_ready() -> None:
    result = ProbeResult(ok=False, detail="HTTP 503", latency_ms=1.5, at=10.0, status_code=503)
    assert result.to_dict() == {
        "ok": False,
        "detail": "HTTP 503",
        "latency_ms": 1.5,
        "at": 10.0,
        "status_code": 503,
        "exit_code": None,
    }


def test_details_are_short_single_lines() -> None:
    assert format_seconds(5) == "5s" and format_seconds(0.25) == "250ms" and format_seconds(1.5) == "1.5s"
    assert one_line(b"a\n  b\n", tail=True) == "a b"
    assert one_line("x" * 300 + "END", tail=True).endswith("END")
    assert len(one_line("x" * 300, tail=False)) == 203
