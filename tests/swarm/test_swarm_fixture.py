"""The 3-node Swarm fixture itself: nodes come up, tasks spread, a killed node's tasks run elsewhere.

These are facts the Swarm driver will rely on; checking them here means a broken fixture fails on its
own and not as a mystery inside a release test.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from pathlib import Path

import docker.types

from tests.swarm.swarm_fixture import Swarm, kill_node, load_image, swarm_cluster


def running_tasks(swarm: Swarm, service_id: str) -> list[dict]:
    service = swarm.manager.client().services.get(service_id)
    return [
        t for t in service.tasks() if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
    ]


def node_names(swarm: Swarm) -> dict[str, str]:
    return {n.id: n.attrs["Description"]["Hostname"] for n in swarm.manager.client().nodes.list()}


def wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def test_three_nodes_spread_six_replicas_and_reschedule_a_dead_node(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    root = Path(tmp_path_factory.mktemp("sw", numbered=True))
    with swarm_cluster(root) as swarm:
        nodes = swarm.manager.client().nodes.list()
        assert sorted(n.attrs["Spec"]["Role"] for n in nodes) == ["manager", "worker", "worker"]
        image = load_image(swarm, "1")
        # A task needs a network for its host-mode port: an overlay network, as mooring gives each app.
        swarm.manager.client().networks.create("web-net", driver="overlay", attachable=True)
        service = swarm.manager.client().services.create(
            image,
            command=["httpd", "-f", "-p", "8080", "-h", "/www"],
            name="web",
            networks=["web-net"],
            mode=docker.types.ServiceMode("replicated", replicas=6),
            # No IPVS here, so no routing mesh: dnsrr and a port published on each task's node.
            endpoint_spec=docker.types.EndpointSpec(
                mode="dnsrr",
                ports=[{"Protocol": "tcp", "PublishedPort": 0, "TargetPort": 8080, "PublishMode": "host"}],
            ),
            stop_grace_period=1_000_000_000,
        )
        tasks = wait_for(lambda: len(t := running_tasks(swarm, service.id)) == 6 and t, 60, "6 running tasks")
        names = node_names(swarm)
        spread = Counter(names[t["NodeID"]] for t in tasks)
        assert len(spread) == 3 and set(spread.values()) == {2}, spread
        # The host (where the engine and its HAProxy run) reaches a task on every node.
        for task in tasks:
            node = next(n for n in swarm.nodes if n.netns == names[task["NodeID"]])
            port = task["Status"]["PortStatus"]["Ports"][0]["PublishedPort"]
            body = urllib.request.urlopen(f"http://{node.address}:{port}/", timeout=5).read()
            assert body == b"1", (node.netns, port, body)

        victim = swarm.nodes[2]
        kill_node(victim)
        survivors = {n.netns for n in swarm.nodes[:2]}
        wait_for(
            lambda: (
                len(t := running_tasks(swarm, service.id)) == 6
                and {names[x["NodeID"]] for x in t} <= survivors
            ),
            90,
            "the dead node's tasks to run on the other nodes",
        )
