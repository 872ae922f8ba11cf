"""mooring.compose: loading Compose as Compose does, and the translation of each key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.compose import ComposeError, import_compose
from mooring.compose.interpolation import InterpolationError, Interpolator
from mooring.manifest import load_manifest_text
from tests.compose.helpers import convert, keys, write


def test_interpolation_forms_follow_the_compose_spec() -> None:
    env = {"SET": "v", "EMPTY": ""}
    i = Interpolator(env)
    assert i.text("$SET ${SET} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", "k") == "v v d d  d"
    assert i.text("${SET:+r} ${UNSET:+r} ${EMPTY+r} $$SET $ 5 ${UNSET:-${SET:-x}}", "k") == "r  r $SET $ 5 v"
    with pytest.raises(InterpolationError, match=r"k: need it \(\$\{EMPTY\} is not set"):
        i.text("${EMPTY:?need it}", "k")
    assert i.text("${EMPTY?fine}", "k") == ""
    assert i.text("${UNSET}", "services.web.image") == ""
    assert ("UNSET", "", "services.web.image") in i.unset


def test_dotenv_then_environment_and_dollar_stays_literal_in_the_manifest(tmp_path: Path) -> None:
    result, data = convert(
        tmp_path,
        {
            ".env": "TAG=1.2\nPASS=from-dotenv\n",
            "compose.yaml": """
services:
  web:
    image: "shop/web:${TAG}"
    environment:
      PASSWORD: ${PASS}
      PRICE: "$$5"
      WHO: ${WHO:-nobody}
""",
        },
        environ={"PASS": "from-env"},
    )
    web = data["service"]["web"]
    assert web["image"] == "shop/web:1.2"
    assert web["env"] == {"PASSWORD": "from-env", "PRICE": "$$5", "WHO": "nobody"}
    # the manifest's own interpolation turns $$ back into the literal $ Compose meant
    loaded = load_manifest_text(result.text, base_dir=tmp_path, environ={})
    assert loaded.manifest.service["web"].env["PRICE"] == "$5"
    assert result.variables == ["PASS", "TAG"]


def test_required_variable_missing_names_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"compose.yaml: services.web.image: set TAG"):
        convert(tmp_path, {"compose.yaml": "services:\n  web:\n    image: web:${TAG:?set TAG}\n"})


def test_files_merge_in_order_with_reset_and_override(tmp_path: Path) -> None:
    _, data = convert(
        tmp_path,
        {
            "compose.yaml": """
services:
  web:
    image: web:1
    command: ["serve", "--old"]
    ports: ["8080:80"]
    environment: [A=1, B=2]
  debug:
    image: busybox
    ports: ["9000:9000"]
""",
            "compose.prod.yaml": """
services:
  web:
    image: web:2
    command: ["serve"]
    ports: ["8443:443"]
    environment:
      B: "3"
      A: !reset null
  debug:
    ports: !override ["${DEBUG_PORT}:9000"]
""",
        },
        environ={"DEBUG_PORT": "9001"},
    )
    web = data["service"]["web"]
    assert web["image"] == "web:2"
    assert web["command"] == ["serve"]  # replaced, not appended
    assert web["ports"] == ["8080:80", "8443:443"]  # appended
    assert web["env"] == {"B": "3"}
    assert data["service"]["debug"]["ports"] == ["9001:9000"]


def test_extends_across_files_and_profiles(tmp_path: Path) -> None:
    result, data = convert(
        tmp_path,
        {
            "common/base.yaml": """
services:
  base:
    image: app:1
    env_file: app.env
    environment: {LEVEL: info}
""",
            "common/app.env": "X=1\n",
            "compose.yaml": """
services:
  web:
    extends: {file: common/base.yaml, service: base}
    environment: {LEVEL: debug}
  tools:
    image: tools:1
    profiles: [debug]
""",
        },
    )
    web = data["service"]["web"]
    assert web["image"] == "app:1"
    assert web["env"] == {"LEVEL": "debug"}
    assert web["env_file"] == ["./common/app.env"]  # relative to the base file, then to the manifest
    assert "tools" not in data["service"]
    assert "services.tools.profiles" in keys(result, "info")


def test_profile_activates_service(tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  web: {image: w}\n  tools: {image: t, profiles: [debug]}\n"}
    _, data = convert(tmp_path, files, profiles=["debug"])
    assert set(data["service"]) == {"web", "tools"}
    _, data = convert(tmp_path, files, environ={"COMPOSE_PROFILES": "debug"})
    assert set(data["service"]) == {"web", "tools"}


def test_schema_violation_is_an_error_naming_the_key(tmp_path: Path) -> None:
    (path,) = write(
        tmp_path,
        {"compose.yaml": "services:\n  web:\n    image: w\n    restart: sometimes\n    replicas: 2\n"},
    )
    result = import_compose([path], tmp_path, environ={})
    errors = {f.key: f.message for f in result.findings if f.severity == "error"}
    assert errors["services.web.replicas"] == "breaks the Compose specification: unknown key 'replicas'", (
        errors
    )
    assert "services.web.restart" in errors, errors
    assert result.has_errors


def test_service_keys_map_to_manifest_keys(tmp_path: Path) -> None:
    result, data = convert(
        tmp_path,
        {
            "compose.yaml": """
name: My_Shop
services:
  api:
    image: shop/api:3
    command: serve --port 8000
    working_dir: /srv
    ports: ["127.0.0.1:8000:8000", "9000-9001:9000-9001", "53:53/udp", "7000"]
    expose: ["8000", 8125]
    volumes: ["./conf:/etc/api:ro", "data:/var/lib/api", "/cache", "logs:/logs:z"]
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    restart: on-failure:4
    healthcheck:
      test: ["CMD-SHELL", "wget -qO- http://127.0.0.1:8000/health || exit 1"]
      interval: 2s
      timeout: 500ms
      retries: 5
      start_period: 10s
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 512M, pids: 100}
        reservations: {memory: 128M}
      update_config:
        parallelism: 2
        delay: 5s
        failure_action: rollback
        monitor: 30s
        order: start-first
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    networks: [back]
  db:
    image: postgres:16
    healthcheck:
      test: ["CMD", "pg_isready"]
  migrate:
    image: shop/api:3
    command: ["manage", "migrate"]
    restart: always
volumes:
  data: {}
  logs: {driver: nfs}
networks:
  back: {}
""",
        },
    )
    assert data["app"]["name"] == "my-shop"
    api = data["service"]["api"]
    assert api["command"] == "serve --port 8000"
    assert api["working_dir"] == "/srv"
    assert api["ports"] == ["127.0.0.1:8000:8000", "9000:9000", "9001:9001", "7000", "8125"]
    assert api["volumes"] == ["./conf:/etc/api:ro", "data:/var/lib/api", "api-cache:/cache", "logs:/logs"]
    assert api["stop_signal"] == "SIGINT" and api["stop_timeout"] == "1m30s"
    assert api["restart"] == "on-failure" and api["max_restarts"] == 4
    assert api["health_check"] == {
        "type": "exec",
        "command": ["/bin/sh", "-c", "wget -qO- http://127.0.0.1:8000/health || exit 1"],
        "interval": "2s",
        "timeout": "500ms",
        "start_period": "10s",
        "retries": 5,
    }
    assert api["replicas"] == 3
    assert api["resources"] == {"cpu": 0.5, "memory": "512MiB", "pids": 100}
    assert api["rollout"] == {
        "parallelism": 2,
        "delay_between_batches": "5s",
        "min_ready": "30s",
        "failure_action": "rollback",
        "order": "start_first",
    }
    assert api["depends_on"] == ["db", "migrate"]
    assert data["service"]["db"]["health_check"]["command"] == ["pg_isready"]
    assert data["service"]["db"]["health_check"]["interval"] == "30s"  # Compose's default, written out
    assert data["service"]["db"]["restart"] == "no"  # Compose's default
    assert data["worker"]["migrate"] == {
        "image": "shop/api:3",
        "command": ["manage", "migrate"],
        "restart": "on-failure",
    }
    assert set(data["volume"]) == {"data", "logs", "api-cache"}
    unmapped = keys(result, "unmapped")
    assert {
        "services.api.ports[2]",
        "services.api.volumes[3]",
        "services.api.deploy.resources.reservations",
        "services.api.networks",
        "volumes.logs.driver",
        "networks.back",
    } <= unmapped
    changed = keys(result, "changed")
    assert {"services.api.ports[3]", "services.api.volumes[2]", "services.migrate.restart"} <= changed


def test_build_without_image_names_the_image_compose_would_build(tmp_path: Path) -> None:
    result, data = convert(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: ./web\n    ports: ['80:80']\n",
            "web/Dockerfile": "FROM scratch\n",
        },
    )
    assert data["service"]["web"]["image"] == f"{data['app']['name']}-web"
    build = next(f for f in result.findings if f.key == "services.web.build")
    assert build.severity == "unmapped" and "docker build -t" in build.hint and "./web" in build.hint


def test_unknown_and_extension_keys_are_reported_not_dropped(tmp_path: Path) -> None:
    result, _ = convert(
        tmp_path,
        {
            "compose.yaml": """
version: "3.9"
x-common: &common {restart: always}
services:
  web:
    <<: *common
    image: w
    x-note: hi
    entrypoint: ["/init"]
    user: "1000"
    container_name: web1
    labels: {a: b}
""",
        },
    )
    found = {f.key: f.severity for f in result.findings}
    assert found["version"] == "info" and found["x-common"] == "info"
    assert found["services.web.x-note"] == "info"
    assert found["services.web.entrypoint"] == "unmapped"
    assert found["services.web.user"] == "unmapped"
    assert found["services.web.labels"] == "unmapped"
    assert found["services.web.container_name"] == "info"


def test_a_reference_by_service_name_is_flagged(tmp_path: Path) -> None:
    result, _ = convert(
        tmp_path,
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    environment:\n      DB_URL: postgres://u@db:5432/x\n      DB_HOST: db\n      NOTE: dbx\n  db: {image: postgres}\n"
        },
    )
    assert {"services.app.environment.DB_URL", "services.app.environment.DB_HOST"} <= keys(result, "changed")
    assert "services.app.environment.NOTE" not in keys(result)


def test_include_and_extends_in_the_same_file(tmp_path: Path) -> None:
    _, data = convert(
        tmp_path,
        {
            "compose.yaml": """
include: [infra/compose.yaml]
services:
  base: {image: app:1, environment: {A: "1"}, profiles: [tools]}
  web:
    extends: base
    environment: {B: "2"}
    profiles: !reset []
""",
            "infra/compose.yaml": "services:\n  cache: {image: redis:7, volumes: ['./data:/data']}\n",
        },
    )
    assert data["service"]["web"]["env"] == {"A": "1", "B": "2"}
    assert "base" not in data["service"]  # its profile is not active; web resets the inherited profiles
    assert data["service"]["cache"]["volumes"] == ["./infra/data:/data"]  # relative to the included file


def test_an_extends_cycle_is_named(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"services.a.extends: cycle"):
        convert(
            tmp_path,
            {"compose.yaml": "services:\n  a: {image: x, extends: b}\n  b: {image: y, extends: a}\n"},
        )


def test_cli_refuses_to_overwrite_and_writes_stdout(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "compose.yaml").write_text("services:\n  web: {image: 'nginx:1.27', ports: ['8080:80']}\n")
    (tmp_path / "mooring.toml").write_text("# mine\n")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mooring", "import", "compose", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    refused = run()
    assert refused.returncode == 1 and "mooring.toml already exists" in refused.stderr
    assert (tmp_path / "mooring.toml").read_text() == "# mine\n"
    printed = run("-o", "-")
    assert printed.returncode == 0 and '[service.web]\nimage = "nginx:1.27"' in printed.stdout
    assert "printed the manifest (app" in printed.stderr
    assert run("-o", "-", "--json").returncode == 1
    missing = run("nope.yaml", "-o", "x.toml")
    assert missing.returncode == 2 and "nope.yaml: cannot read it" in missing.stderr
