"""Tables the CLI prints."""

from __future__ import annotations

from typing import Any

from mooring.cli.plain import echo


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns: never truncated, the same on a terminal and in a pipe."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


INSTANCE_COLUMNS = [
    "INSTANCE",
    "APP",
    "SERVICE",
    "REPLICA",
    "DRIVER",
    "STATE",
    "HEALTH",
    "PID",
    "RESTARTS",
    "UPTIME",
    "CPU",
    "MEM",
    "PORTS",
    "UPSTREAM",
    "NOTE",
]


def upstream_cell(row: dict[str, Any]) -> str:
    """Where the proxy forwards to this instance; ``(idle)`` when it is not in rotation."""
    if not row.get("upstream"):
        return "-"
    return row["upstream"] if row.get("serving") else f"{row['upstream']} (idle)"


def ports_cell(row: dict[str, Any]) -> str:
    """``127.0.0.1:8081->8081 (instance :59019)``: where clients connect (the published host port),
    the declared port, and the port this instance really listens on when that differs."""
    cells = []
    published = row.get("published") or {}
    for declared, actual in row["ports"].items():
        cell = f"{published[declared]}->{declared}" if declared in published else str(declared)
        if str(actual) != str(declared):
            cell += f" (instance :{actual})"
        cells.append(cell)
    return ", ".join(cells) or "-"


# ps --wide: the edge's counters of each instance (HAProxy's, since its last reload)
TRAFFIC_COLUMNS = ["REQUESTS", "2XX", "4XX", "5XX", "IN", "OUT", "SESSIONS"]


def traffic_cells(row: dict[str, Any]) -> list[str]:
    """An instance's counters on the edge; ``-`` for one that is not behind it."""
    c = row.get("proxy")
    if not c:
        return ["-"] * len(TRAFFIC_COLUMNS)
    return [
        str(c.get("requests", 0)),
        str(c.get("http_2xx", 0)),
        str(c.get("http_4xx", 0)),
        str(c.get("http_5xx", 0)),
        human_bytes(c.get("bytes_in", 0)),
        human_bytes(c.get("bytes_out", 0)),
        str(c.get("active", 0)),
    ]


def instances_table(rows: list[dict[str, Any]], wide: bool = False) -> None:
    if not rows:
        echo("no instances")
        return
    cells = []
    for row in rows:
        ports = ports_cell(row)
        note = row.get("limits") or (
            row.get("last_error") if row["state"] in ("failed", "exited", "backoff") else ""
        )
        cpu = "-" if row["cpu_percent"] is None else f"{row['cpu_percent']:.1f}%"
        cells.append(
            [
                row["id"],
                row["app"],
                row["service"],
                str(row["replica"]),
                row["driver"],
                row["state"],
                row.get("health") or "-",
                str(row["pid"] or "-"),
                str(row["restarts"]),
                human_duration(row["uptime"]),
                cpu,
                human_bytes(row["memory_bytes"]),
                ports,
                upstream_cell(row),
                *(traffic_cells(row) if wide else []),
                note or "",
            ]
        )
    columns = INSTANCE_COLUMNS[:-1] + TRAFFIC_COLUMNS + INSTANCE_COLUMNS[-1:] if wide else INSTANCE_COLUMNS
    echo(text_table(columns, cells))
