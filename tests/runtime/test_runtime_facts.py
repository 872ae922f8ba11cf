"""``ps`` facts come from memory: CPU and memory are sampled by one watcher while someone reads them,
state and uptime are live, and a new run of an instance is never shown with its old run's numbers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from runtime_testkit import PYTHON, make_spec, new_supervisor, run_bounded, wait_until

from mooring.runtime import facts_watch
from mooring.runtime.cgroups import CgroupHost


def test_reads_are_served_from_the_watchers_samples(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        grow = "import time\nblob = []\nwhile True:\n    blob.append(b'x' * 200_000); time.sleep(0.05)"
        record = await sup.start(make_spec(workdir, [PYTHON, "-c", grow]))
        await wait_until(lambda: (sup.facts("web-1").uptime or 0) > 1.2, 10, "a second of uptime")
        watch = sup._facts
        first = watch._samplers["web-1"].last
        assert first is not None and first.pid == record.pid and first.cpu_percent is not None
        # a read between two samples reads no file: it is the sample, with a live uptime
        a, b = sup.facts("web-1"), sup.facts("web-1")
        sample = watch._samplers["web-1"].last
        assert sample is not None
        assert (
            (a.rss_bytes, a.cpu_percent)
            == (b.rss_bytes, b.cpu_percent)
            == (sample.rss_bytes, sample.cpu_percent)
        )
        assert b.uptime is not None and a.uptime is not None and b.uptime >= a.uptime
        # the watcher takes new samples while someone reads, without a read asking for them
        await wait_until(lambda: watch._samplers["web-1"].last is not sample, 10, "the next sample")
        assert watch._task is not None
        later = watch._samplers["web-1"].last
        assert later is not None and later.at - sample.at >= facts_watch.SAMPLE_EVERY * 0.5
        await sup.stop("web-1")
        stopped = sup.facts("web-1")  # a stopped instance: no pid, no numbers of its last run
        assert stopped.pid is None and stopped.state == "stopped" and stopped.cpu_percent is None
        await sup.detach_all()
        assert watch._task is None

    run_bounded(scenario())


def test_the_watcher_stops_when_nobody_reads(
    log_dir: Path, workdir: Path, cgroups: CgroupHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts_watch, "WATCH_FOR", 0.3)

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        await sup.start(make_spec(workdir, ["sleep", "60"]))
        sup.facts("web-1")
        assert sup._facts._task is not None
        started = time.monotonic()
        await wait_until(lambda: sup._facts._task is None, 10, "the watcher to stop")
        assert time.monotonic() - started < 5
        await sup.stop("web-1")

    run_bounded(scenario())
