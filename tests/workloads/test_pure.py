"""The pure pieces behind real workloads: template rendering, accounts, state rules, log retention
and the counts of a release."""

from __future__ import annotations

import asyncio
import pwd
import time
from pathlib import Path

import pytest

from mooring.cli.counts import targets_phrase
from mooring.engine.accounts import resolve_account
from mooring.engine.log_catalog import LogCatalog, LogMeta
from mooring.engine.templates import expand_instance_vars, render_templates
from mooring.manifest import ManifestError
from mooring.manifest.diff import spec_hash
from mooring.manifest.loader import load_manifest_text
from mooring.manifest.snapshot import build_snapshot


def test_a_template_renders_the_instance_env_and_keeps_nginx_variables() -> None:
    files = render_templates(
        "web",
        [{"destination": "nginx.conf", "data": "listen ${PORT}; $host $$ ${X:-d}", "source": None}],
        {"PORT": "8080"},
    )
    assert files == {"nginx.conf": "listen 8080; $host $ d"}


def test_a_template_naming_a_variable_the_instance_lacks_fails_naming_both() -> None:
    with pytest.raises(ValueError, match=r"service\.web\.template\[0\] \(t\.tmpl\): \$\{NOPE\} is not set"):
        render_templates("web", [{"destination": "a", "data": "${NOPE}", "source": "t.tmpl"}], {})


def test_instance_variables_in_arguments_only_port_and_mooring_names() -> None:
    env = {"PORT": "1", "MOORING_INSTANCE_DIR": "/d", "HOME": "/root"}
    argv = expand_instance_vars(
        ["x", "${MOORING_INSTANCE_DIR}/c", "${PORT}", "${HOME}", "${MOORING_NOPE}"], env
    )
    assert argv == ("x", "/d/c", "1", "${HOME}", "${MOORING_NOPE}")


def test_an_account_resolves_to_ids_with_the_users_groups_and_home() -> None:
    account = resolve_account({"user": "postgres"})
    assert account is not None
    entry = pwd.getpwnam("postgres")
    assert (account.uid, account.gid) == (entry.pw_uid, entry.pw_gid)
    assert entry.pw_gid in account.groups
    assert account.env["HOME"] == entry.pw_dir and account.env["USER"] == "postgres"
    assert resolve_account({"user": "postgres", "groups": ["root"]}).groups == (0,)  # type: ignore[union-attr]
    assert resolve_account({}) is None
    with pytest.raises(ValueError, match="user 'no-such-user' does not exist"):
        resolve_account({"user": "no-such-user"})


def load(text: str) -> object:
    return load_manifest_text(text, base_dir=Path("/tmp"))


def errors_of(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        load(text)
    return str(caught.value)


def test_validation_names_a_missing_user_and_group() -> None:
    text = '[service.web]\ncommand = "x"\nuser = "no-such-user"\ngroups = ["no-such-group"]\n'
    message = errors_of(text)
    assert "service.web.user: user 'no-such-user' does not exist on this host" in message
    assert "service.web.groups[0]: group 'no-such-group' does not exist" in message


def test_a_stateful_service_cuts_over_stop_first_with_one_replica() -> None:
    loaded = load('[service.db]\ncommand = "x"\ndata_dir = "./data"\n')
    service = loaded.manifest.service["db"]  # type: ignore[attr-defined]
    assert service.rollout.order == "stop_first" and service.data_dir == "/tmp/data"
    assert "each replica would run on the same data" in errors_of(
        '[service.db]\ncommand = "x"\nstateful = true\nreplicas = 2\n'
    )
    assert "the new instance would start on the data the old one still uses" in errors_of(
        '[service.db]\ncommand = "x"\nstateful = true\nrollout = { order = "start_first" }\n'
    )


def test_validate_warns_when_a_single_replica_with_a_volume_keeps_start_first() -> None:
    loaded = load('[service.c]\nimage = "x"\nvolumes = ["d:/d"]\n[volume.d]\n')
    warnings = [str(w) for w in loaded.warnings]  # type: ignore[attr-defined]
    assert any("service.c.rollout.order" in w and "share it" in w for w in warnings), warnings
    quiet = load('[service.c]\nimage = "x"\nvolumes = ["d:/d"]\nstateful = true\n[volume.d]\n')
    assert not quiet.warnings  # type: ignore[attr-defined]


def test_new_keys_at_their_defaults_leave_the_snapshot_and_hash_as_before() -> None:
    snapshot = build_snapshot(load('[service.web]\ncommand = "x"\n').manifest)  # type: ignore[attr-defined]
    web = snapshot.data["service"]["web"]
    assert not {"user", "group", "groups", "template", "stateful", "data_dir", "logs"} & set(web)


def test_a_changed_template_changes_the_spec_hash_but_log_retention_does_not() -> None:
    def web(extra: str) -> dict[str, object]:
        text = f'[service.web]\ncommand = "x"\n{extra}'
        return dict(build_snapshot(load(text).manifest).data["service"]["web"])  # type: ignore[attr-defined]

    one = web('[[service.web.template]]\ndata = "a"\ndestination = "f"\n')
    two = web('[[service.web.template]]\ndata = "b"\ndestination = "f"\n')
    assert spec_hash(one) != spec_hash(two)
    assert spec_hash(web("")) == spec_hash(web("logs = { keep = 3 }\n"))


def test_the_catalog_keeps_the_newest_ended_instances_within_count_and_bytes(tmp_path: Path) -> None:
    retention = {"keep": 2, "max": 10_000}
    catalog = LogCatalog(
        tmp_path, lambda iid: [p for p in [tmp_path / f"{iid}.log"] if p.exists()],
        lambda meta: (retention["keep"], retention["max"]),
    )  # fmt: skip
    for n in range(4):
        iid = f"web-1-{n:06x}"
        (tmp_path / f"{iid}.log").write_text("x" * 100)
        catalog.started(LogMeta(iid, "app", "web", 1, "r1", "service", time.time()))
        catalog.ended(iid)
        time.sleep(0.01)
    left = sorted(p.name for p in tmp_path.glob("*.log"))
    assert left == ["web-1-000002.log", "web-1-000003.log"]
    assert [m.instance_id for m in catalog.all("app")] == ["web-1-000002", "web-1-000003"]
    retention["max"] = 150  # bytes bound too: only the newest fits
    catalog.prune(catalog.all("app")[0])
    assert [m.instance_id for m in catalog.all("app")] == ["web-1-000003"]


def test_the_catalog_prunes_once_per_service_for_the_instances_ended_in_one_loop_turn(tmp_path: Path) -> None:
    asked: list[str] = []

    def retention(meta: LogMeta) -> tuple[int, int]:
        asked.append(meta.service)
        return 3, 10**6

    catalog = LogCatalog(
        tmp_path, lambda iid: [p for p in [tmp_path / f"{iid}.log"] if p.exists()], retention
    )
    for n in range(40):
        iid = f"web-{n}-{n:06x}"
        (tmp_path / f"{iid}.log").write_text("x")
        catalog.started(LogMeta(iid, "app", "web" if n % 2 else "api", n, "r1", "service", time.time() + n))

    async def stop_all() -> None:
        for n in range(40):
            catalog.ended(f"web-{n}-{n:06x}")
        assert len(list(tmp_path.glob("*.log"))) == 40  # not yet: at the end of this loop turn
        await asyncio.sleep(0)

    asyncio.run(stop_all())

    # once per service, not once per ended instance; logs.keep = 3 of each
    assert sorted(asked) == ["api", "web"]
    assert len(list(tmp_path.glob("*.log"))) == 6


def test_the_counts_of_a_rolled_back_release_add_up() -> None:
    targets = {"total": 2, "ready": 0, "failed": 0, "unchanged": 0, "removed": 0, "left": 1, "rolled_back": 1}
    ended = {"state": "rolled_back", "active": False, "targets": targets}
    assert targets_phrase(ended) == "0 ready, 0 failed, 1 rolled back, 1 not started"
    running = {"state": "rolling", "active": True, "targets": {**targets, "rolled_back": 0}}
    assert targets_phrase(running) == "0 ready, 0 failed, 1 left"
    done = {
        "state": "stable",
        "active": False,
        "targets": {**targets, "left": 0, "rolled_back": 0, "ready": 2},
    }
    assert targets_phrase(done, unchanged=True) == "2 ready, 0 failed, 0 left, 0 unchanged, 0 removed"


def test_a_stop_first_drain_does_not_count_against_the_readiness_clock_shown() -> None:
    from mooring.cli.progress import ReleaseProgress

    lines: list[str] = []
    progress = ReleaseProgress(lines.append)

    def at(second: int) -> str:
        return f"2026-12-03T10:00:{second:02d}+00:00"

    progress.feed(
        {
            "type": "batch.started",
            "service": "db",
            "batch": 1,
            "targets": ["db-1"],
            "readiness_timeout": 5,
            "at": at(0),
        }
    )
    progress.feed(
        {"type": "target.starting", "target": "db-1", "service": "db", "instance_id": "db-1-a", "at": at(0)}
    )
    # the old instance took 8 s to drain and stop: more than the whole readiness deadline
    progress.feed(
        {
            "type": "instance.stopped",
            "target": "db-1",
            "why": "stop_first",
            "instance_id": "db-1-z",
            "at": at(8),
        }
    )
    progress.feed(
        {"type": "target.ready", "target": "db-1", "service": "db", "instance_id": "db-1-a", "at": at(9)}
    )
    assert lines[-1].split()[:3] == ["db-1", "ready", "1.0s/5s"], lines
