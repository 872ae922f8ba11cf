"""Three apps of the Compose corpus, converted by `mooring import compose`, come up under mooring
and answer.

The images are stand-ins built here (``docker import`` of busybox-static, tagged with the names the
Compose files use, each serving its own name over HTTP on the port its real image listens on): no
registry is reachable in tests. The Compose files themselves are used unchanged, plus an override
file that moves the published port to a free one (a second Compose file, merged with ``!override``
as Compose merges it), so the test cannot collide with anything else on the host.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.container.kit import up
from tests.container.private_dockerd import PrivateDockerd, rootfs_tar
from tests.engine.conftest import Mooring, free_port, wait_until

CORPUS = Path(__file__).parent.parent / "compose" / "corpus"
# app -> (the service that publishes a port, its container port, {image: port its stand-in listens on})
APPS = {
    "library-adminer": ("adminer", 8080, {"adminer": 8080, "mysql:5.6": 3306}),
    "library-ghost": ("ghost", 2368, {"ghost:6-alpine": 2368, "mysql:8.0": 3306}),
    "library-mongo": ("mongo-express", 8081, {"mongo-express": 8081, "mongo": 27017}),
}


def _stand_in(dockerd: PrivateDockerd, image: str, port: int) -> None:
    repository, _, tag = image.partition(":")
    dockerd.client().import_image_from_data(
        rootfs_tar(f"stand-in for {image}"),
        repository=repository,
        tag=tag or "latest",
        changes=[f'CMD ["/bin/httpd", "-f", "-p", "{port}", "-h", "/www"]'],
    )


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return str(reply.read().decode())
    except OSError:
        return None


@pytest.mark.parametrize("app", sorted(APPS))
def test_converted_corpus_app_comes_up_and_answers(
    app: str, cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    web, container_port, images = APPS[app]
    for image, port in images.items():
        _stand_in(dockerd, image, port)
    project = cmooring.cwd / app
    shutil.copytree(CORPUS / app, project)
    (project / "compose.override.yaml").write_text(
        f'services:\n  {web}:\n    ports: !override ["127.0.0.1:${{WEB_PORT}}:{container_port}"]\n'
    )
    host_port = free_port()
    cmooring.env["WEB_PORT"] = str(host_port)
    result = cmooring.run(
        "import", "compose", str(project / "compose.yaml"), str(project / "compose.override.yaml"),
        "-o", str(project / "mooring.toml"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    code, release = up(cmooring, "-f", str(project / "mooring.toml"))
    assert code == 0, release
    assert release["status"] == "completed"
    page = wait_until(
        lambda: _get(f"http://127.0.0.1:{host_port}/"), timeout=30, what=f"{app}'s {web} answering"
    )
    assert page == f"stand-in for {next(iter(images))}"
    rows = cmooring.ps(app)
    assert {r["service"] for r in rows if r["state"] == "running"} == {s for s in _services(project)}


def _services(project: Path) -> set[str]:
    import tomllib

    return set(tomllib.loads((project / "mooring.toml").read_text())["service"])
