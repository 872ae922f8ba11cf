"""A Compose ``healthcheck`` as the manifest's ``health_check`` (type ``exec``)."""

from __future__ import annotations

from typing import Any

from mooring.compose.draft import ServiceContext, Table
from mooring.compose.values import duration_text, go_duration

# Compose's defaults, written out because the manifest's differ (10s interval, 5s timeout)
DEFAULTS = {"interval": 30.0, "timeout": 30.0, "start_period": 0.0}


def convert_healthcheck(check: dict[str, Any], ctx: ServiceContext) -> Table | None:
    """The health check table, or None when the check is disabled or has no test."""
    key = ctx.key("healthcheck")
    test = check.get("test")
    if check.get("disable") or test == ["NONE"] or test == "NONE":
        ctx.report(
            key,
            "info",
            "the health check is disabled; the manifest has none",
            "mooring does not run the image's HEALTHCHECK either",
        )
        return None
    command = _command(test)
    if command is None:
        ctx.report(
            f"{key}.test",
            "unmapped" if test else "info",
            f"cannot run test {test!r}; no health check written",
            'write one: health_check = { type = "exec", command = [...] }',
        )
        return None
    table = Table(comments=[f"from {key}; runs inside the container"])
    table.set("type", "exec")
    table.set("command", command)
    for name, default in DEFAULTS.items():
        raw = check.get(name)
        try:
            seconds = default if raw is None else go_duration(raw)
        except ValueError as exc:
            ctx.report(f"{key}.{name}", "error", str(exc))
            continue
        if name != "start_period" and seconds <= 0:
            ctx.report(
                f"{key}.{name}", "changed", f"{name} {raw!r} is not positive; Compose's default 30s is used"
            )
            seconds = default
        note = "Compose's default" if raw is None else ""
        if name == "timeout" and raw is None and seconds > go_duration(table.values.get("interval", "30s")):
            seconds, note = (
                go_duration(table.values["interval"]),
                "Compose's default 30s, capped at the interval",
            )
        if seconds or name != "start_period":
            table.set(name, duration_text(seconds), note)
    retries = check.get("retries", 3)
    try:
        count = int(retries)
    except (TypeError, ValueError):
        count = 3
    if not 1 <= count <= 100:
        clamped = min(max(count, 1), 100)
        ctx.report(f"{key}.retries", "changed", f"retries {retries!r} is outside 1-100; {clamped} is used")
        count = clamped
    table.set("retries", count)
    if "start_interval" in check:
        ctx.report(
            f"{key}.start_interval",
            "unmapped",
            "start_interval is not supported",
            "probes run every interval, also during start_period",
        )
    return table


def _command(test: Any) -> list[str] | None:
    if isinstance(test, str):
        return ["/bin/sh", "-c", test] if test.strip() else None
    if not isinstance(test, list) or not test:
        return None
    head, rest = str(test[0]), [str(item) for item in test[1:]]
    if head == "CMD" and rest:
        return rest
    if head == "CMD-SHELL" and rest:
        return ["/bin/sh", "-c", " ".join(rest)]
    return None
