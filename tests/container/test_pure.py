"""Pure pieces of the container driver: image references, engine timestamps and log lines, exit reading."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mooring.runtime.container.address import EngineConfigError, resolve_address
from mooring.runtime.container.driver import exit_status
from mooring.runtime.container.engine_api import parse_time, split_reference
from mooring.runtime.container.logs import convert
from mooring.runtime.container.spec import ContainerSpec, Mount
from mooring.runtime.states import ExitReason


def test_image_references_split_into_repository_and_tag() -> None:
    assert split_reference("redis:7-alpine") == ("redis", "7-alpine")
    assert split_reference("registry.local:5000/team/web") == ("registry.local:5000/team/web", "latest")
    assert split_reference("registry.local:5000/team/web:2") == ("registry.local:5000/team/web", "2")
    assert split_reference("web@sha256:abc") == ("web@sha256:abc", None)


def test_engine_timestamps_and_lines_become_mooring_log_lines() -> None:
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("2026-11-26T18:21:20.123456789Z") == pytest.approx(1795717280.123456)
    lines = convert(b"2026-11-26T18:21:20.5Z hello world\n2026-11-26T18:21:21Z second\n", "stderr")
    assert lines == [
        "2026-11-26T18:21:20.500000Z stderr hello world",
        "2026-11-26T18:21:21.000000Z stderr second",
    ]


def test_exit_codes_read_as_clean_crashed_killed_or_oom() -> None:
    assert exit_status(0, oomed=False).reason is ExitReason.CLEAN_EXIT
    assert exit_status(3, oomed=False).reason is ExitReason.CRASHED
    killed = exit_status(128 + signal.SIGKILL, oomed=False)
    assert killed.reason is ExitReason.KILLED and killed.signal == signal.SIGKILL
    assert "killed by SIGKILL" in killed.describe()
    assert exit_status(137, oomed=True).reason is ExitReason.OOM_KILLED


def test_spec_survives_its_dict_and_names_its_container() -> None:
    spec = ContainerSpec(
        instance_id="web-1-abc123",
        app="shop",
        service="web",
        replica=1,
        release_id="r1",
        spec_hash="h",
        image="web:2",
        command=None,
        env={"A": "1"},
        ports={8080: 51000},
        mounts=(Mount("volume", "shop_data", "/data"),),
    )
    assert ContainerSpec.from_dict(spec.to_dict()) == spec
    assert spec.container_name == "mooring-shop-web-1-abc123"
    assert spec.labels["mooring.instance"] == "web-1-abc123" and spec.labels["mooring.app"] == "shop"


def test_engine_address_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    (tmp_path / "engine.toml").write_text('[engine]\ndocker_host = "unix:///x.sock"\n')
    assert resolve_address(tmp_path).source == "DOCKER_HOST"
    monkeypatch.delenv("DOCKER_HOST")
    configured = resolve_address(tmp_path)
    assert configured.url == "unix:///x.sock" and str(tmp_path / "engine.toml") in configured.source
    (tmp_path / "engine.toml").write_text("[engine]\ndocker_host = 3\n")
    with pytest.raises(EngineConfigError, match=r"engine\.docker_host"):
        resolve_address(tmp_path)
