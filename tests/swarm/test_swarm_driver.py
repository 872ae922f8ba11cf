"""The Swarm driver on a real 3-node Swarm: start, reach, restart, adopt, move off a dead node, drain, stop.

One cluster per module (it takes seconds to build); each test uses its own instance ids.
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mooring.runtime.container.address import EngineAddress
from mooring.runtime.container.spec import ContainerSpec
from mooring.runtime.record import InstanceRecord
from mooring.runtime.states import ExitReason, InstanceState
from mooring.runtime.swarm import Healthcheck, SwarmDriver, SwarmSpec
from mooring.runtime.swarm.tasks import slot_state
from tests.swarm.swarm_fixture import Swarm, kill_node, load_image, swarm_cluster

S = InstanceState


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with swarm_cluster(Path(tmp_path_factory.mktemp("swd"))) as cluster:
        load_image(cluster, "1")
        yield cluster


def spec(
    replica: int = 1, *, image: str = "mooring-test/web:1", health: str = "test -f /www/health", **kw: object
) -> SwarmSpec:
    iid = f"web-{replica}-{secrets.token_hex(3)}"
    container = ContainerSpec(
        instance_id=iid,
        app="shop",
        service="web",
        replica=replica,
        release_id="r1",
        spec_hash="h",
        image=image,
        command=("httpd", "-f", "-p", "8080", "-h", "/www"),
        env={},
        ports={8080: 0},
        restart="always",
        max_restarts=5,
        stop_timeout=1.0,
    )
    return SwarmSpec(
        container=container,
        network="mooring-shop",
        healthcheck=Healthcheck(("sh", "-c", health), interval=0.5, timeout=2, retries=2),
        **kw,  # type: ignore[arg-type]
    )


def driver(swarm: Swarm, home: str, seen: list[InstanceRecord] | None = None) -> SwarmDriver:
    return SwarmDriver(
        EngineAddress(swarm.manager.url, "test"),
        home_label=home,
        on_change=(seen.append if seen is not None else None),
    )


def get(record: InstanceRecord) -> bytes:
    port = record.host_ports["8080"]
    return bytes(urllib.request.urlopen(f"http://{record.host}:{port}/", timeout=5).read())


def test_slots_run_spread_and_answer_on_their_node(swarm: Swarm) -> None:
    async def scenario() -> None:
        d = driver(swarm, "home-a")
        records = await asyncio.gather(*(d.start(spec(r)) for r in (1, 2, 3)))
        assert [r.state for r in records] == [S.RUNNING] * 3, [r.last_exit_detail for r in records]
        assert len({r.node for r in records}) == 3, [r.node for r in records]  # Swarm spread the slots
        for record in records:
            assert get(record) == b"1"
        stopped = await d.stop_all()
        assert {r.state for r in stopped} == {S.STOPPED}
        assert not [s for s in swarm.manager.client().services.list() if "home-a" in str(s.attrs)]
        await d.detach_all()

    asyncio.run(scenario())


def test_a_missing_image_and_a_failing_healthcheck(swarm: Swarm) -> None:
    async def scenario() -> None:
        d = driver(swarm, "home-b")
        missing = await d.start(spec(1, image="mooring-test/nosuch:9"), wait=60)
        assert missing.state is S.FAILED and missing.last_exit_reason is ExitReason.START_FAILED, missing
        assert "nosuch" in missing.last_exit_detail or "image" in missing.last_exit_detail.lower(), missing
        sick = await d.start(spec(2, health="false"), wait=3)
        assert sick.state is S.STARTING, sick  # Swarm holds an unhealthy task in starting
        await d.stop_all()
        await d.detach_all()

    asyncio.run(scenario())


def test_adopted_by_a_new_driver_and_moved_off_a_dead_node(swarm: Swarm) -> None:
    async def scenario() -> None:
        first = driver(swarm, "home-c")
        records = await asyncio.gather(*(first.start(spec(r)) for r in (1, 2, 3)))
        assert all(r.state is S.RUNNING for r in records)
        await first.detach_all()  # the engine stops; the services keep running

        second = driver(swarm, "home-c")
        adopted = [await second.adopt(r) for r in records]
        assert [a.state for a in adopted] == [S.RUNNING] * 3
        assert [a.task_id for a in adopted] == [r.task_id for r in records]
        assert await second.orphans({r.instance_id for r in records}) == []

        victim_node = next(n for n in swarm.nodes[1:] if n.netns in {a.node for a in adopted})
        victim = next(a for a in adopted if a.node == victim_node.netns)
        kill_node(victim_node)
        moved = await second.wait_for(
            victim.instance_id, lambda r: r.state is S.RUNNING and r.node != victim_node.netns, 90
        )
        assert moved.task_id != victim.task_id and moved.restarts >= 1
        assert get(moved) == b"1"
        nodes = {n["name"]: n for n in await second.nodes()}
        assert nodes[victim_node.netns]["state"] == "down"
        await second.stop_all()
        await second.detach_all()

    asyncio.run(scenario())


def test_slot_state_reads_tasks() -> None:
    running = {
        "ID": "t2",
        "CreatedAt": "2",
        "DesiredState": "running",
        "NodeID": "n1",
        "Status": {"State": "running", "PortStatus": {"Ports": [{"TargetPort": 80, "PublishedPort": 30001}]}},
    }
    failed = {
        "ID": "t1",
        "CreatedAt": "1",
        "DesiredState": "shutdown",
        "Status": {"State": "failed", "Err": "boom"},
    }
    slot = slot_state([failed, running])
    assert slot.phase == "running" and slot.current is not None and slot.current.ports == {80: 30001}
    assert slot.ended_tasks == 1
    assert slot_state([failed]).phase == "ended" and slot_state([failed]).why == "boom"
    assert slot_state([]).phase == "gone"
