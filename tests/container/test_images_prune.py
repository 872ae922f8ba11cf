"""`mooring images prune` removes only images no retained release references; a rollback to the
previous release afterwards still runs its exact image."""

from __future__ import annotations

import json

import docker
import pytest

from tests.container.kit import manifest, up
from tests.container.private_dockerd import PrivateDockerd, build_image
from tests.engine.conftest import Mooring

REPO = "mooring-test/prune"


def test_prune_keeps_rollback_targets_and_rollback_runs_the_exact_image(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    client = dockerd.client()
    ids = {}
    for version in ("1", "2", "3", "4"):
        build_image(client, version, repository=REPO)
        ids[version] = client.inspect_image(f"{REPO}:{version}")["Id"]
    cmooring.home.mkdir(parents=True, exist_ok=True)
    (cmooring.home / "engine.toml").write_text("[releases]\nkeep = 2\n")
    for version in ("1", "2", "3", "4"):
        cmooring.write("mooring.toml", manifest(image=f"{REPO}:{version}", replicas=1))
        code, release = up(cmooring)
        assert code == 0, release
    # an image a release never named is never touched, even unused
    build_image(client, "stray", repository=REPO)

    dry = json.loads(cmooring.run("images", "prune", "--dry-run", "--json", check=True).stdout)
    assert {i["image"]: i["action"] for i in dry["images"]} == {f"{REPO}:1": "remove", f"{REPO}:2": "remove"}
    assert sorted(dry["retained"]["box"].values()) == ["current", "prev-ok"]
    for version in ("1", "2"):
        assert client.inspect_image(f"{REPO}:{version}")["Id"] == ids[version]  # --dry-run removed nothing

    done = json.loads(cmooring.run("images", "prune", "--json", check=True).stdout)
    assert {i["image"]: i["action"] for i in done["images"]} == {
        f"{REPO}:1": "removed",
        f"{REPO}:2": "removed",
    }
    for version in ("1", "2"):
        with pytest.raises(docker.errors.ImageNotFound):
            client.inspect_image(f"{REPO}:{version}")
    assert client.inspect_image(f"{REPO}:stray")

    result = cmooring.run("rollback", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    running = [r for r in cmooring.ps("box") if r["state"] == "running"]
    assert len(running) == 1
    container = client.inspect_container(f"mooring-box-{running[0]['id']}")
    assert container["Image"] == ids["3"]  # the very image release 3 ran
