"""``mooring doctor``: is a container engine reachable from here, which one, and what the host offers."""

from __future__ import annotations

import typer

from mooring.cli.options import JsonFlag


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(json_output: JsonFlag = False) -> int:
    r"""Check the container engine (DOCKER_HOST, \[engine] docker_host, standard sockets), cgroups, runc and HAProxy.

    Exit 0 when a container engine answers, 1 when none does.
    """
    from mooring.cli.output import out, print_json
    from mooring.network import edge_report
    from mooring.paths import mooring_home
    from mooring.runtime.container.doctor import diagnose

    report = diagnose(mooring_home())
    report["haproxy"] = edge_report()
    if json_output:
        print_json(report)
        raise typer.Exit(0 if report["reachable"] else 1)

    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False)  # "[engine]" is text here, not rich markup

    config = report["engine_config"]
    say(f"DOCKER_HOST            {report['docker_host_env'] or '(not set)'}")
    say(
        f"[engine] docker_host   {config['docker_host'] + ' in ' + config['path'] if config else '(not set)'}"
    )
    for path, exists in report["standard_sockets"].items():
        say(f"socket {path:<24} {'present' if exists else 'absent'}")
    if report["address"]:
        say(f"engine address         {report['address']} (from {report['address_source']})")
    engine = report["engine"]
    if engine:
        say(
            f"container engine       reachable: {engine['name']} {engine['version']} (API {engine['api_version']},"
            f" {engine['os']})"
        )
        say(
            f"engine cgroups         driver {engine['cgroup_driver']}, v{engine['cgroup_version']};"
            f" runtime {engine['default_runtime']}; init {engine['init_binary']}"
        )
    else:
        say(f"container engine       NOT reachable: {report['error']}")
    cgroup = report["cgroup"]
    say(f"host cgroups           v{cgroup['version']}: {' '.join(cgroup['controllers']) or '(none)'}")
    runc = report["runc"]
    say(
        f"runc                   {runc['version'] or 'not found'}{' at ' + runc['path'] if runc['path'] else ''}"
    )
    haproxy = report["haproxy"]
    if haproxy["version"]:
        say(f"haproxy                {haproxy['version']} at {haproxy['path']} (serves published ports)")
    else:
        say(f"haproxy                NOT found; published ports need it: {haproxy['hint']}")
    if not report["reachable"]:
        say(
            "hint: install and start a container engine (Debian: apt-get install docker.io), or set DOCKER_HOST"
            " or [engine] docker_host in $MOORING_HOME/engine.toml"
        )
    raise typer.Exit(0 if report["reachable"] else 1)
