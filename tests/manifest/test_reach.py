"""Where a container reaches a dependency's published port (pure rule; the real path is in tests/container)."""

from __future__ import annotations

import pytest

from mooring.manifest.reach import container_address


@pytest.mark.parametrize(
    ("host_ip", "expected"),
    [
        (None, "host.docker.internal:8080"),
        ("0.0.0.0", "host.docker.internal:8080"),
        ("::", "host.docker.internal:8080"),
        ("172.17.0.1", "172.17.0.1:8080"),
        ("fd00::1", "[fd00::1]:8080"),
        ("127.0.0.1", None),
        ("127.0.0.2", None),
        ("::1", None),
    ],
)
def test_container_address_of_a_published_port(host_ip: str | None, expected: str | None) -> None:
    assert container_address(host_ip, 8080) == expected
