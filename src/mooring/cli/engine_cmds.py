"""``serve``, ``down``, ``ps`` and ``logs``: commands answered by the engine."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli import reads
from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import FollowFlag, JsonFlag, ManifestFile, reject_manifest_paths

EXIT_SURVIVORS = 1  # down stopped what it knew, yet instances of the app still run


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(down)
    app.command()(ps)
    app.command()(logs)


def serve(
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            envvar="MOORING_LISTEN",
            help="Also serve the API on TCP HOST:PORT; every request needs a bearer token (docs/remote.md).",
        ),
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option("--tls-cert", envvar="MOORING_TLS_CERT", help="PEM certificate for TCP.")
    ] = None,
    tls_key: Annotated[
        str | None, typer.Option("--tls-key", envvar="MOORING_TLS_KEY", help="PEM private key for TCP.")
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", envvar="MOORING_INSECURE", help="Allow plain HTTP beyond loopback."),
    ] = False,
) -> None:
    """Run the engine in the foreground (what a systemd unit runs)."""
    from mooring.daemon import run, tcp_listen
    from mooring.errors import UsageError

    if not listen and (tls_cert or tls_key or insecure):
        raise UsageError("--tls-cert, --tls-key and --insecure only apply with --listen HOST:PORT")
    run(tcp_listen(listen, tls_cert, tls_key, insecure) if listen else None)


def down(
    services: Annotated[list[str] | None, typer.Argument(help="Only these services.")] = None,
    file: ManifestFile = "mooring.toml",
    app: AppOption = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Stop the app's instances, dependents first."""
    from mooring.cli.output import err, out, print_json

    reject_manifest_paths(services, "a SERVICE")
    name = resolve_app(app, file)
    result = engine_client(server).post(f"/v1/apps/{name}/down", {"services": services or None})
    survivors = result.get("survivors") or []
    if json_output:
        print_json(result)
    else:
        recorded = f" (release {result['release_id']}, trigger down)" if result.get("release_id") else ""
        out.print(f"app {name}: stopped {len(result['stopped'])} instances{recorded}", markup=False)
    if survivors:
        # never a success while something of the app still runs (e.g. an instance the engine lost)
        listed = ", ".join(
            f"{s['instance_id']} ({s['service']}, "
            + (f"pid {s['pid']}" if s.get("pid") else f"container {str(s.get('container_id'))[:12]}")
            + ")"
            for s in survivors
        )
        err.print(
            f"app {name}: {len(survivors)} instance(s) still running after down: {listed}\n"
            "hint: see `mooring ps --app "
            f"{name}`; stop a process with kill PID, a container with docker rm -f ID",
            markup=False,
        )
        return EXIT_SURVIVORS
    return 0


def ps(
    app: AppOption = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Also each instance's traffic on the edge: requests, 2xx/4xx/5xx, bytes in/out, open sessions.",
        ),
    ] = False,
) -> int:
    """List instances: state, health, restarts, uptime, cpu and memory."""
    return reads.ps(app, json_output, server, wide)


def logs(
    target: Annotated[
        str | None, typer.Argument(help="SERVICE or INSTANCE (default: every instance).")
    ] = None,
    follow: FollowFlag = False,
    tail: Annotated[int | None, typer.Option("--tail", "-n", help="Only the last N lines.")] = None,
    since: Annotated[str | None, typer.Option(help="Only lines newer than this duration (10m, 1h).")] = None,
    release: Annotated[
        str | None,
        typer.Option(
            "--release", help="Every instance that ran in this release (id or prefix), ended ones too."
        ),
    ] = None,
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    server: ServerOption = None,
) -> int:
    """Print an instance's or a service's logs (replicas interleaved, prefixed with their name)."""
    return reads.logs(target, follow, tail, since, release, app, file, server)
