"""Reconciliation (issue 17, item 2): an instance that belongs to no release is stopped and recorded.

The orphan is made as a fault would leave one: a second live instance of slot web-1, recorded in the
store but named by no release (the engine was killed meanwhile). The next engine adopts it, notices
that the slot runs two instances, keeps the one its release names and stops the other.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import psutil

from mooring.store import open_store
from tests.engine.conftest import Mooring, free_port, wait_until
from tests.engine.releases_kit import APP_SCRIPT, manifest, served_versions, setup, up
from tests.engine.test_crash_recovery import app_processes, kill_engine


def _start_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of /proc/PID/stat, after pid and comm


def _plant_orphan(mooring: Mooring) -> tuple[str, subprocess.Popen[bytes]]:
    """A real second process of web-1, recorded as an instance no release names."""
    port = free_port()
    proc = subprocess.Popen(
        ["python3", str(APP_SCRIPT)],
        cwd=mooring.cwd,
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), "V": "1", "BEHAVIOR": "ok"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    store = open_store(f"sqlite:///{mooring.home / 'state.db'}")
    try:
        web1 = next(i for i in store.list_instances("rel") if i.service == "web" and i.replica == 1)
        orphan_id = "web-1-0rphan"
        record = dict(web1.info["record"])
        record.update(instance_id=orphan_id, pid=proc.pid, pid_start_ticks=_start_ticks(proc.pid))
        record["cgroup_paths"] = []
        # web-1's environment is sealed to web-1's id (store/keyring.py): the planted copy carries none
        spec = {k: v for k, v in record["spec"].items() if k != "env_sealed"}
        # its own id in the spec too: a clone still naming web-1 there had its exit and restart
        # reported as web-1's (web-1 showed `backoff` while it ran on)
        record["spec"] = {**spec, "instance_id": orphan_id, "env": {"PATH": "/usr/bin:/bin"}}
        info = {**web1.info, "record": record}
        store.upsert_instance(
            dataclasses.replace(
                web1,
                id=orphan_id,
                pid=proc.pid,
                pid_start_time=float(record["pid_start_ticks"]),
                cgroup=None,
                ports={"8000": port},
                info=info,
            )
        )
    finally:
        store.close()
    return orphan_id, proc


def test_an_instance_no_release_names_is_stopped_and_recorded(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2, parallelism=1, timeout="10s"))
    code, first = up(mooring)
    assert code == 0, first
    kill_engine(mooring)
    orphan_id, orphan = _plant_orphan(mooring)
    try:
        rows = mooring.ps("rel")  # a new engine adopts every recorded instance, the orphan too
        assert orphan_id in {r["id"] for r in rows} or orphan.poll() is not None
        wait_until(lambda: orphan.poll() is not None, timeout=60, what="the orphan to be stopped")
        out = mooring.run("events", "--app", "rel", "--json", check=True).stdout
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        removed = [e for e in events if e["type"] == "instance.orphan_removed"]
        assert [e["instance_id"] for e in removed] == [orphan_id], removed
        kept = {r["id"] for r in mooring.ps("rel")}
        assert orphan_id not in kept and len(kept) == 2
        assert removed[0]["kept"] in kept

        assert served_versions(mooring) == {1: "1", 2: "1"}
        wait_until(lambda: len(app_processes(mooring)) == 2, timeout=20, what="exactly 2 app processes")
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()
        assert not psutil.pid_exists(orphan.pid) or psutil.Process(orphan.pid).status() == "zombie"
