"""GET /metrics during and after a rollout: the counters and gauges move as the release does."""

from __future__ import annotations

import httpx

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import manifest, setup
from tests.observe.kit import samples, scrape, value
from tests.remote.conftest import Served


def test_metrics_follow_a_rollout_while_it_runs_and_after_it_ends(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=3, parallelism=1, delay="700ms", start_period="10s"))
    mooring.run("up", "--detach", check=True)
    wait_until(lambda: mooring.engine_pid(), what="the engine")

    def midway() -> list | None:
        found = scrape(mooring.home)
        ready = value(found, "mooring_target_transitions_total", app="rel", state="ready")
        return found if ready >= 1 and value(found, "mooring_releases_finished_total") == 0 else None

    during = wait_until(midway, timeout=60, what="a scrape with a ready target and the release open")
    assert value(during, "mooring_current_release_info", app="rel", status="in_progress") == 1
    assert value(during, "mooring_targets", app="rel", state="ready") >= 1
    assert value(during, "mooring_targets", app="rel", state="ready") < 3
    assert value(during, "mooring_releases_running") == 1
    assert value(during, "mooring_engine_uptime_seconds") > 0

    def finished() -> list | None:
        found = scrape(mooring.home)
        return (
            found
            if value(found, "mooring_releases_finished_total", app="rel", status="completed") == 1
            else None
        )

    after = wait_until(finished, timeout=90, what="the release to be counted completed")
    assert value(after, "mooring_releases", app="rel", status="completed") == 1
    assert value(after, "mooring_targets", app="rel", state="ready") == 3
    assert value(after, "mooring_target_transitions_total", app="rel", state="ready") == 3
    assert value(after, "mooring_release_duration_seconds_count", app="rel", status="completed") == 1
    # three batches, 700 ms apart: the release took at least the two delays
    assert value(after, "mooring_release_duration_seconds_sum", app="rel") >= 1.4
    assert value(after, "mooring_batch_duration_seconds_count", app="rel", service="web") == 3
    assert value(after, "mooring_instances", app="rel", service="web", state="running", health="healthy") == 3
    assert value(after, "mooring_probes_total", app="rel", service="web", kind="http", result="ok") >= 3
    assert value(after, "mooring_probe_duration_seconds_count", app="rel", kind="http") >= 3
    # the executor's task ends just after its final event is committed
    wait_until(lambda: value(scrape(mooring.home), "mooring_releases_running") == 0, what="no executor left")
    # later scrapes keep counting: probes go on
    wait_until(
        lambda: (
            value(scrape(mooring.home), "mooring_probes_total", app="rel", result="ok")
            > value(after, "mooring_probes_total", app="rel", result="ok")
        ),
        what="the probe counter to move",
    )


def test_remote_metrics_need_a_token_and_a_read_token_is_enough(served: Served) -> None:
    url = f"http://{served.address}/metrics"
    refused = httpx.get(url, timeout=10)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    reader = served.token("read", name="prometheus")
    reply = httpx.get(url, headers={"Authorization": f"Bearer {reader}"}, timeout=10)
    assert reply.status_code == 200
    found = samples(reply.text)
    assert value(found, "mooring_engine_info") == 1
    assert any(s.name == "mooring_engine_start_time_seconds" for s in found)
