"""``nodes`` and ``node drain|activate``: the engine's Swarm cluster (docs/cluster.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.connect import ServerOption, engine_client
from mooring.cli.options import JsonFlag

node_app = typer.Typer(help="Drain or activate a node of the engine's Swarm cluster.", no_args_is_help=True)

NodeArg = Annotated[
    str, typer.Argument(help="The node's name (hostname) or id, as `mooring nodes` shows it.")
]


def register(app: typer.Typer) -> None:
    app.command()(nodes)
    app.add_typer(node_app, name="node")


def nodes(json_output: JsonFlag = False, server: ServerOption = None) -> int:
    """List the cluster's nodes: role, availability, state, address, and this engine's tasks on each."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    rows = engine_client(server).get("/v1/nodes")
    if json_output:
        print_json(rows)
        return 0
    out.print(
        text_table(
            ["NAME", "ROLE", "AVAILABILITY", "STATE", "ADDRESS", "TASKS"],
            [
                [
                    r["name"] + (" (leader)" if r["leader"] else ""),
                    r["role"] or "",
                    r["availability"] or "",
                    r["state"] or "",
                    r["address"] or "",
                    str(r["tasks"]),
                ]
                for r in rows
            ],
        )
    )
    return 0


def _set(node: str, availability: str, json_output: bool, server: str | None) -> int:
    from mooring.cli.output import out, print_json

    row = engine_client(server).post(f"/v1/nodes/{node}/availability", {"availability": availability})
    if json_output:
        print_json(row)
    else:
        out.print(f"node {row['name']}: {row['availability']} ({row['state']})")
    return 0


@node_app.command("drain")
def drain(node: NodeArg, json_output: JsonFlag = False, server: ServerOption = None) -> int:
    """Move every task off NODE (Swarm starts each elsewhere; the edge follows them)."""
    return _set(node, "drain", json_output, server)


@node_app.command("activate")
def activate(node: NodeArg, json_output: JsonFlag = False, server: ServerOption = None) -> int:
    """Let Swarm place tasks on NODE again."""
    return _set(node, "active", json_output, server)
