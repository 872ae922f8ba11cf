"""``mooring engine status|stop|restart``: the local engine itself, seen and steered by the operator."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from mooring.cli.connect import ServerOption
from mooring.cli.options import JsonFlag

if TYPE_CHECKING:
    from pathlib import Path

STOP_DEADLINE = 30.0


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The engine daemon: where it runs, stop it, restart it.", no_args_is_help=True)
    group.command("status")(status)
    group.command("stop")(stop)
    group.command("restart")(restart)
    app.add_typer(group, name="engine")


def _home() -> Path:
    from mooring.paths import mooring_home

    return mooring_home()


def _info(server: str | None) -> dict[str, Any] | None:
    """The engine's own account of itself, or None when no local engine answers (never starts one)."""
    from mooring.errors import EngineUnreachable

    try:
        if server:
            from mooring.cli.connect import engine_client

            return dict(engine_client(server).get("/v1/engine"))
        from mooring.client.autostart import local_client

        return dict(local_client(_home(), autostart=False).get("/v1/engine"))
    except EngineUnreachable:
        if server:
            raise
        return None


def _lines(info: dict[str, Any], where: str) -> list[str]:
    from mooring.cli.tables import human_duration

    log = f"{info['home']}/engine.log"
    return [
        f"engine: running, pid {info['pid']}, version {info['version']}",
        f"where: {where}",
        f"home: {info['home']}",
        f"log: {log} (when started by the CLI; under systemd: journalctl -u mooring)",
        f"up {human_duration(max(0.0, time.time() - info['started_at']))} "
        f"(since {time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(info['started_at']))}Z), "
        f"{info['instances']} instance(s)",
        *_cluster_lines(info),
    ]


def _cluster_lines(info: dict[str, Any]) -> list[str]:
    """Engines sharing PostgreSQL: who leads, since when, with which epoch, and every engine seen."""
    cluster = info.get("cluster")
    if not cluster:
        return []
    from mooring.cli.tables import human_duration

    lines = [
        f"cluster: {cluster['cluster']}, this engine is the {info.get('role')}; "
        f"leader {cluster['leader'] or '(none yet)'} since {cluster['leader_since'] or '-'}, "
        f"epoch {cluster['epoch'] if cluster['epoch'] is not None else '-'}, lease {cluster['lease']:g}s",
        "  ENGINE        ROLE      HOST/PID              ADDRESS                   SEEN",
    ]
    for e in cluster["engines"]:
        role = "leader" if e["leader"] else "follower" if e["alive"] else "gone"
        seen = e["seen_at"] or "-"
        if e["seen_at"] and not e["alive"]:
            seen = f"{seen} (not seen for over {human_duration(2 * cluster['lease'])})"
        mark = "*" if e["this"] else " "
        lines.append(
            f"{mark} {e['id']:<13} {role:<9} {e['host'] + '/' + str(e['pid']):<21} "
            f"{e['address'] or '(no --listen)':<25} {seen}"
        )
    return lines


def status(json_output: JsonFlag = False, server: ServerOption = None) -> int:
    """Is the engine running: its pid, version, uptime, socket, home and log. Exit 1 when it is not."""
    from mooring.cli.output import out, print_json
    from mooring.client.autostart import socket_path

    info = _info(server)
    where = server or f"unix socket {socket_path(_home())}"
    if json_output:
        print_json({"running": info is not None, "where": where, **(info or {})})
        return 0 if info else 1
    if info is None:
        out.print(
            f"engine: not running (no answer at {where}); the next command that needs it starts it, "
            "or run it in the foreground: mooring serve",
            markup=False,
        )
        return 1
    for line in _lines(info, where):
        out.print(line, markup=False)
    return 0


def _stop_local() -> dict[str, Any] | None:
    """SIGTERM the local engine and wait for it to go; its instances keep running."""
    import os
    import signal

    from mooring.errors import MooringError

    info = _info(None)
    if info is None:
        return None
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)  # the engine stops its API and tasks, never the instances
    deadline = time.monotonic() + STOP_DEADLINE
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return info
        time.sleep(0.05)
    raise MooringError(
        f"the engine (pid {pid}) did not stop within {STOP_DEADLINE:g}s of SIGTERM",
        hint=f"see {info['home']}/engine.log; kill -KILL {pid} stops it at once (instances keep running)",
    )


def _refuse_remote(server: str | None, what: str) -> None:
    if server:
        from mooring.errors import UsageError

        raise UsageError(
            f"mooring engine {what} steers the local engine only",
            hint="on the engine's host: systemctl stop|restart mooring (docs/engine.md)",
        )


def stop(server: ServerOption = None) -> int:
    """Stop the local engine; the app instances keep running and are adopted when it starts again."""
    from mooring.cli.output import out

    _refuse_remote(server, "stop")
    info = _stop_local()
    if info is None:
        out.print("engine: not running; nothing to stop", markup=False)
        return 0
    out.print(
        f"engine pid {info['pid']} stopped; its {info['instances']} instance(s) keep running and are "
        "adopted when it starts again (any command that needs it, or mooring serve)",
        markup=False,
    )
    return 0


def restart(server: ServerOption = None) -> int:
    """Stop the local engine and start it again in the background; instances are adopted, not restarted."""
    from mooring.cli.output import out
    from mooring.client.autostart import local_client

    _refuse_remote(server, "restart")
    old = _stop_local()
    info = dict(local_client(_home()).get("/v1/engine"))
    before = f"pid {old['pid']} stopped, " if old else ""
    out.print(
        f"engine restarted: {before}pid {info['pid']} runs, version {info['version']}, "
        f"{info['instances']} instance(s) adopted",
        markup=False,
    )
    return 0
