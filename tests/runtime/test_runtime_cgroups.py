"""cgroups: detection of both layouts, limits applied (or honestly reported), OOM and pids enforced."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from runtime_testkit import (
    PYTHON,
    log_lines,
    make_spec,
    new_supervisor,
    process_gone,
    run_bounded,
    wait_until,
)

from mooring.runtime import ExitReason, InstanceState, Resources
from mooring.runtime.cgroups import CgroupHost, parse_mountinfo, parse_own_cgroups

S = InstanceState

HYBRID_MOUNTINFO = """\
25 31 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
38 33 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
39 33 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
40 33 0:35 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
41 33 0:36 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
"""
HYBRID_CGROUP = """\
12:pids:/system.slice/mooring.service
5:memory:/system.slice/mooring.service
3:cpu,cpuacct:/system.slice/mooring.service
1:name=systemd:/system.slice/mooring.service
0::/system.slice/mooring.service
"""


def fake_proc(tmp_path: Path, mountinfo: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text(mountinfo)
    (proc / "cgroup").write_text(cgroup)
    return proc


def test_mountinfo_and_own_cgroups_parse() -> None:
    mounts = parse_mountinfo(HYBRID_MOUNTINFO)
    assert [(point, fstype) for _, point, fstype, _ in mounts] == [
        ("/sys/fs/cgroup/unified", "cgroup2"),
        ("/sys/fs/cgroup/cpu,cpuacct", "cgroup"),
        ("/sys/fs/cgroup/memory", "cgroup"),
        ("/sys/fs/cgroup/pids", "cgroup"),
        ("/sys/fs/cgroup/systemd", "cgroup"),
    ]
    own = parse_own_cgroups(HYBRID_CGROUP)
    assert own["cpu"] == own["cpuacct"] == own[""] == "/system.slice/mooring.service"


def test_pure_v2_with_controllers_is_detected(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    (root / "system.slice").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    mountinfo = f"30 25 0:26 / {root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    host = CgroupHost.detect(proc_root=str(fake_proc(tmp_path, mountinfo, "0::/system.slice/x\n")))
    assert host.unified is not None and host.v1 == {}
    assert {name: host.home(name) is host.unified for name in ("cpu", "memory", "pids")} == {
        "cpu": True,
        "memory": True,
        "pids": True,
    }
    assert host.expected_paths("shop", "web-1") == [str(root / "mooring" / "shop" / "web-1")]
    assert "memory: v2" in host.describe()


def test_v2_limits_are_written_through_each_level(tmp_path: Path) -> None:
    # A stand-in for cgroupfs (regular files where the kernel would make them): checks which files
    # get which values on a pure v2 host, which this test machine is not.
    root = tmp_path / "cgroup"
    leaf = root / "mooring" / "shop" / "web-1"
    leaf.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    for level in (root, root / "mooring", root / "mooring" / "shop"):
        (level / "cgroup.subtree_control").write_text("")
    for name in ("cpu.max", "memory.max", "memory.swap.max", "pids.max", "cgroup.procs"):
        (leaf / name).write_text("")
    mountinfo = f"30 25 0:26 / {root} rw,nosuid - cgroup2 cgroup2 rw\n"
    host = CgroupHost.detect(proc_root=str(fake_proc(tmp_path, mountinfo, "0::/\n")))
    group = host.create("shop", "web-1", Resources(cpu=1.5, memory=64 << 20, pids=9))
    assert group.limits_applied, group.limits_note
    assert group.paths == [str(leaf)]
    assert (leaf / "cpu.max").read_text() == "150000 100000"
    assert (leaf / "memory.max").read_text() == str(64 << 20)
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "pids.max").read_text() == "9"
    # Each level above the leaf had the controllers switched on (the last write stays in a plain file).
    for level in (root, root / "mooring", root / "mooring" / "shop"):
        assert (level / "cgroup.subtree_control").read_text() == "+pids"
    assert (group.procs_files) == [str(leaf / "cgroup.procs")]


def test_hybrid_takes_controllers_from_v1_and_grouping_from_v2(tmp_path: Path) -> None:
    host = CgroupHost.detect(proc_root=str(fake_proc(tmp_path, HYBRID_MOUNTINFO, HYBRID_CGROUP)))
    # /sys/fs/cgroup/unified/cgroup.controllers is read from the real host: empty or absent controllers
    # there leave every limit to v1.
    for name, mount in (("cpu", "cpu,cpuacct"), ("memory", "memory"), ("pids", "pids")):
        home = host.home(name)
        assert home is not None and home.version == 1 and home.mount == Path("/sys/fs/cgroup") / mount
    nested = dataclasses.replace(host, nest_in_own_cgroup=True)
    assert str(
        Path("/sys/fs/cgroup/memory/system.slice/mooring.service/mooring/a/b")
    ) in nested.expected_paths("a", "b")


def test_no_cgroups_means_process_group_only(tmp_path: Path) -> None:
    host = CgroupHost.detect(proc_root=str(fake_proc(tmp_path, "", "")))
    assert not host.available
    assert "process group only" in host.describe()
    unlimited = host.create("a", "b", Resources())
    assert unlimited.limits_applied and unlimited.dirs == []
    limited = host.create("a", "b", Resources(memory=64 << 20))
    assert not limited.limits_applied and "limits not applied" in limited.limits_note


def test_limits_are_written_to_the_controllers(needs_cgroups: CgroupHost) -> None:
    group = needs_cgroups.create("shop", "web-1", Resources(cpu=0.5, memory=64 << 20, pids=7))
    try:
        assert group.limits_applied, group.limits_note
        assert group.dirs[0].path.name == "web-1"
        cpu, memory, pids = (group.dir_for(n) for n in ("cpu", "memory", "pids"))
        assert cpu and memory and pids
        if cpu.version == 2:
            assert (cpu.path / "cpu.max").read_text().split() == ["50000", "100000"]
            assert int((memory.path / "memory.max").read_text()) == 64 << 20
        else:
            assert int((cpu.path / "cpu.cfs_quota_us").read_text()) == 50000
            assert int((cpu.path / "cpu.cfs_period_us").read_text()) == 100000
            assert int((memory.path / "memory.limit_in_bytes").read_text()) == 64 << 20
        assert (pids.path / "pids.max").read_text().strip() == "7"
        assert group.members() == set()
    finally:
        assert group.remove() == ""
    assert all(not d.path.exists() for d in group.dirs)


def test_a_missing_controller_is_reported_and_the_instance_still_runs(
    log_dir: Path, workdir: Path, needs_cgroups: CgroupHost
) -> None:
    # The same host without its v1 controllers: grouping survives, limits cannot be applied.
    host = dataclasses.replace(needs_cgroups, v1={})
    if host.home("memory") is not None:
        pytest.skip("this host offers memory through v2")

    async def scenario() -> None:
        sup = new_supervisor(log_dir, host)
        record = await sup.start(make_spec(workdir, ["sleep", "30"], resources=Resources(memory=64 << 20)))
        assert record.state is S.RUNNING
        assert record.limits_applied is False
        assert "memory limit not applied: no memory controller available" in record.limits_note
        await sup.stop("web-1")

    run_bounded(scenario())


def test_memory_limit_is_enforced_and_reported_as_oom_killed(
    log_dir: Path, workdir: Path, needs_cgroups: CgroupHost
) -> None:
    hog = "chunks = [b'x' * (1 << 20) for _ in range(200)]; print('survived', flush=True)"

    async def scenario() -> None:
        sup = new_supervisor(log_dir, needs_cgroups)
        spec = make_spec(workdir, [PYTHON, "-c", hog], resources=Resources(memory=50 << 20), restart="no")
        record = await sup.start(spec)
        assert record.limits_applied, record.limits_note
        record = await sup.wait_for("web-1", [S.EXITED, S.FAILED], timeout=20)
        assert record.last_exit_reason is ExitReason.OOM_KILLED, record.last_exit_message
        assert record.last_exit_signal == 9
        assert "out of memory" in record.last_exit_message
        assert not any(" stdout survived" in line for line in log_lines(record.log_path))

    run_bounded(scenario())


def test_pids_limit_caps_the_process_count(log_dir: Path, workdir: Path, needs_cgroups: CgroupHost) -> None:
    forker = (
        "import subprocess\n"
        "children, errors = [], 0\n"
        "for _ in range(20):\n"
        "    try:\n"
        "        children.append(subprocess.Popen(['sleep', '60']))\n"
        "    except OSError:\n"
        "        errors += 1\n"
        "print('spawned', len(children), 'refused', errors, flush=True)\n"
        "import time; time.sleep(60)\n"
    )

    async def scenario() -> None:
        sup = new_supervisor(log_dir, needs_cgroups)
        record = await sup.start(make_spec(workdir, [PYTHON, "-c", forker], resources=Resources(pids=5)))
        assert record.limits_applied, record.limits_note

        def report() -> list[str]:
            return [line for line in log_lines(record.log_path) if " stdout spawned " in line]

        await wait_until(lambda: bool(report()), 15, "the forker's report")
        words = report()[0].split()
        spawned, refused = int(words[-3]), int(words[-1])
        assert spawned <= 4 and refused >= 16, report()
        members = sup.facts("web-1")
        assert members.pid == record.pid
        stopped = await sup.stop("web-1")
        assert stopped.state is S.STOPPED
        assert process_gone(record.pid or 0)

    run_bounded(scenario())


def test_cpu_and_memory_facts_come_from_the_cgroup(
    log_dir: Path, workdir: Path, needs_cgroups: CgroupHost
) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, needs_cgroups)
        spin = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"
        await sup.start(make_spec(workdir, [PYTHON, "-c", spin], resources=Resources(cpu=0.5)))
        first = sup.facts("web-1")
        assert first.memory_bytes and first.memory_bytes > 0 and first.oom_kills == 0
        await wait_until(lambda: (sup.facts("web-1").uptime or 0) > 0.5, 10, "half a second of uptime")
        assert sup.facts("web-1").cpu_percent is not None
        await sup.stop("web-1")

    run_bounded(scenario())
