"""The commented starter manifest written by ``mooring init``."""

from __future__ import annotations

STARTER = """\
# mooring.toml: one app, described once. Validate with `mooring validate`,
# preview with `mooring up --dry-run`, apply with `mooring up`.
# Every key is documented in docs/manifest.md; `mooring schema` prints the JSON Schema.

[app]
name = "{name}"

# A service runs continuously. With `command` it is a host process; with `image`, a container.
[service.web]
# A string runs through /bin/sh, so $PORT is the port this instance must listen on.
# (This one serves the files of this directory: replace it with your own server.)
command = "python3 -m http.server --bind 127.0.0.1 $PORT"
# "HOST_IP:HOST_PORT:PORT": the engine publishes 127.0.0.1:8080 and forwards to each
# ready instance, which is told where to listen through $PORT.
ports = ["127.0.0.1:${{WEB_PORT:-8080}}:8000"]
replicas = 2
env = {{ GREETING = "${{GREETING:-hello}}" }}   # ${{VAR:-default}} reads your environment
restart = "always"            # "no" | "always" | "on-failure"
stop_timeout = "10s"

# Ready means healthy: a rollout waits for this before moving on.
[service.web.health_check]
type = "http"                 # "http" | "tcp" | "exec" | "grpc"
path = "/"
interval = "2s"
timeout = "1s"
retries = 3
start_period = "10s"          # failures while it starts do not count; the first success ends it

# How a change reaches the replicas.
[service.web.rollout]
strategy = "rolling"          # "rolling" | "canary" | "blue_green"
parallelism = 1
health_check_timeout = "30s"  # "0s": started counts as ready
failure_action = "pause"      # "pause" | "rollback"

# A one-shot task, e.g. a migration: `mooring run-worker migrate`,
# or list it in a service's depends_on to run it before that service starts.
# [worker.migrate]
# command = "python3 manage.py migrate"

# A scheduled task.
# [cron.cleanup]
# command = "python3 manage.py cleanup"
# schedule = "0 3 * * *"       # or: every = "6h"
"""


def starter_manifest(name: str) -> str:
    return STARTER.format(name=name)
