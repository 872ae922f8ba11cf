"""The cluster's configuration: a clear error naming what and where, and no cluster without PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.engine.cluster import Campaign, ClusterConfig, cluster_config
from mooring.errors import StoreError, UsageError
from mooring.store import open_store


@pytest.fixture(autouse=True)
def _no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOORING_CLUSTER", raising=False)
    monkeypatch.delenv("MOORING_CLUSTER_LEASE", raising=False)


def test_no_name_no_cluster(tmp_path: Path) -> None:
    assert cluster_config(tmp_path) is None
    (tmp_path / "engine.toml").write_text('[cluster]\nmanager = "unix:///x.sock"\n')
    assert cluster_config(tmp_path) is None


def test_name_and_lease_from_the_file_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "engine.toml").write_text('[cluster]\nname = "prod"\nlease = 5\n')
    assert cluster_config(tmp_path) == ClusterConfig("prod", 5.0)
    monkeypatch.setenv("MOORING_CLUSTER", "staging")
    monkeypatch.setenv("MOORING_CLUSTER_LEASE", "2")
    assert cluster_config(tmp_path) == ClusterConfig("staging", 2.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[cluster]\nname = ""\n', "cluster.name: must be a non-empty name"),
        ("[cluster]\nname = 3\n", "cluster.name: must be a non-empty name"),
        ('[cluster]\nname = "p"\nlease = 0.1\n', "cluster.lease: 0.1 is not a lease in seconds from 1 to 60"),
        ('[cluster]\nname = "p"\nlease = "soon"\n', "cluster.lease: 'soon' is not a lease"),
        ("[cluster\n", "cannot read it"),
    ],
)
def test_bad_settings_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "engine.toml").write_text(text)
    with pytest.raises(UsageError, match=r"engine\.toml") as caught:
        cluster_config(tmp_path)
    assert message in caught.value.message


def test_a_cluster_on_sqlite_is_refused_with_what_to_set(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'state.db'}", key_file=tmp_path / "k") as store:
        with pytest.raises(StoreError, match="through PostgreSQL") as caught:
            Campaign(store, ClusterConfig("prod", 3.0), tmp_path, None)
        assert caught.value.hint is not None and "MOORING_DATABASE_URL" in caught.value.hint
        assert store.fence is None
