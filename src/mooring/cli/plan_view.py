"""Text rendering of a dry-run plan (the dict of release/preview.py): deterministic, for people."""

from __future__ import annotations

import re
from typing import Any

from mooring.cli.output import out
from mooring.cli.tables import text_table


def duration(value: float) -> str:
    """``75`` -> ``1m15s``; exact, unlike ``human_duration``, because a bound is read as a promise."""
    whole = int(value)
    if value != whole:
        return f"{value:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def plan_lines(plan: dict[str, Any]) -> list[str]:
    current = plan["current_release_id"]
    if plan["against"] == "empty_host":
        where = "an empty host: no engine runs here, so nothing is compared with what runs (none was started)"
    else:
        where = "the engine" + (f" (current release {current})" if current else " (no release yet)")
    counts = ", ".join(f"{n} {a}" for a, n in plan["counts"].items())
    lines = [
        f"plan for app {plan['app']} against {where}",
        f"manifest {plan['manifest_hash']}  scope {plan['scope']}: {counts}",
        "",
        f"changes against {'release ' + current if current else 'nothing (first release)'}:",
    ]
    changes = plan["changes"]
    lines += [f"  {_change(c)}" for c in changes] or ["  (none)"]
    if plan["against"] == "engine":
        lines += ["", "drift (what runs vs the current release):"]
        lines += [
            f"  {d['target']:<16} {d['kind']:<13} {d['instance_id'] or '-'}: {d['detail']}"
            for d in plan["drift"]
        ] or ["  (none)"]
    lines += ["", "targets:"]
    rows = [
        [
            t["target"],
            t["action"],
            str(t["batch"]) if t["batch"] is not None else "-",
            t["previous_instance_id"] or "-",
        ]
        for t in plan["targets"]
    ]
    lines += [
        "  " + line for line in text_table(["TARGET", "ACTION", "BATCH", "REPLACES"], rows).splitlines()
    ]
    lines += ["", "batches, in order:"]
    for b in plan["batches"]:
        g = b["gate"]
        check = f"{g['health_check']} check" if g["health_check"] else "running (no health check)"
        wait = f"after {duration(b['delay_before'])}, " if b["delay_before"] else ""
        lines.append(
            f"  {b['number']}. {b['service']}: {', '.join(b['targets'])}  "
            f"{b['strategy']} {b['order']}; {wait}gate: {check} within {duration(g['readiness_timeout'])}, "
            f"min_ready {duration(g['min_ready'])}; on failure {g['failure_action']} "
            f"(max_failure_ratio {g['max_failure_ratio']:g}); at most {duration(b['bound_seconds'])}"
        )
    if not plan["batches"]:
        lines.append("  (none: nothing to start)")
    bound = plan["duration_bound"]
    lines += ["", f"worst case: {duration(bound['seconds'])}", f"  assumes {bound['assumes']}"]
    return lines


def _change(c: dict[str, Any]) -> str:
    mark = " (restart)" if c["restart"] else ""
    rotated = _SECRET_VERSION.match(c["path"])
    if rotated and c["kind"] == "changed":  # a rotation: versions, never values
        old, new = (f"v{v}" if v is not None else "(unset)" for v in (c["old"], c["new"]))
        return f"~ {rotated.group(1)}: secret {rotated.group(2)}: {old} -> {new}{mark}"
    if c["kind"] == "added":
        return f"+ {c['path']}{mark}"
    if c["kind"] == "removed":
        return f"- {c['path']}{mark}"
    return f"~ {c['path']}: {_shown(c['old'])} -> {_shown(c['new'])}{mark}"


_SECRET_VERSION = re.compile(r"^((?:service|worker|cron)\.[^.]+)\.secrets\.([^.]+)\.version$")


def _shown(value: Any) -> str:
    import json

    if value is None:
        return "(unset)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def render_plan(plan: dict[str, Any]) -> None:
    for line in plan_lines(plan):
        out.print(line, markup=False)
