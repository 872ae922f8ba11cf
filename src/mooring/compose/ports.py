"""Compose ``ports`` and ``expose`` as manifest ``ports`` (``[HOST_IP:]HOST_PORT:PORT`` or ``PORT``)."""

from __future__ import annotations

from typing import Any

from mooring.compose.draft import ServiceContext

MAX_RANGE = 100  # a longer range is a sign of something mooring's edge should not publish port by port


def convert_ports(ports: list[Any], ctx: ServiceContext) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(ports):
        key = ctx.key("ports", index)
        entries = _long(item, key, ctx) if isinstance(item, dict) else _short(str(item), key, ctx)
        out.extend(entry for entry in entries if entry not in out)
    return out


def convert_expose(expose: list[Any], ctx: ServiceContext) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(expose):
        text = str(item)
        port, _, protocol = text.partition("/")
        if protocol and protocol != "tcp":
            ctx.report(
                ctx.key("expose", index),
                "unmapped",
                f"{protocol.upper()} port {text} is not supported",
                "mooring's edge carries TCP only",
            )
            continue
        low, high = _range(port)
        if low is None or high is None or high - low >= MAX_RANGE:
            ctx.report(
                ctx.key("expose", index),
                "unmapped",
                f"cannot read port {text!r}",
                'declare it as ports = ["PORT"]',
            )
            continue
        out.extend(str(p) for p in range(low, high + 1))
    return out


def _short(text: str, key: str, ctx: ServiceContext) -> list[str]:
    spec, _, protocol = text.partition("/")
    if protocol and protocol != "tcp":
        ctx.report(
            key,
            "unmapped",
            f"{protocol.upper()} port {text!r} is not published",
            "mooring's edge carries TCP only",
        )
        return []
    host_ip = ""
    if spec.startswith("["):
        close = spec.find("]")
        host_ip, spec = spec[: close + 1], spec[close + 2 :]
    parts = spec.split(":")
    if len(parts) == 3:
        host_ip, published, target = parts
    elif len(parts) == 2:
        published, target = parts
    else:
        published, target = "", parts[0]
    return _entries(host_ip, published, target, text, key, ctx)


def _long(item: dict[str, Any], key: str, ctx: ServiceContext) -> list[str]:
    protocol = str(item.get("protocol", "tcp"))
    if protocol != "tcp":
        ctx.report(
            key,
            "unmapped",
            f"{protocol.upper()} port {item.get('target')} is not published",
            "mooring's edge carries TCP only",
        )
        return []
    for extra in ("mode", "name", "app_protocol"):
        if extra in item and not (extra == "mode" and item[extra] == "ingress"):
            ctx.report(
                f"{key}.{extra}", "info", f"{extra} = {item[extra]!r} has no meaning for mooring's edge"
            )
    published = "" if item.get("published") is None else str(item["published"])
    return _entries(
        str(item.get("host_ip") or ""), published, str(item.get("target", "")), str(item), key, ctx
    )


def _entries(
    host_ip: str, published: str, target: str, text: str, key: str, ctx: ServiceContext
) -> list[str]:
    t_low, t_high = _range(target)
    if t_low is None or t_high is None:
        ctx.report(key, "error", f"cannot read the container port of {text!r}")
        return []
    if not published:
        ctx.report(
            key,
            "changed",
            f"{text!r} publishes on a random host port in Compose; the manifest only declares port {target}",
            f'publish it on a fixed port ("HOST_PORT:{t_low}") to reach it from outside',
        )
        return [str(p) for p in range(t_low, t_high + 1)]
    p_low, p_high = _range(published)
    if p_low is None or p_high is None or (p_high - p_low) != (t_high - t_low) or t_high - t_low >= MAX_RANGE:
        ctx.report(
            key,
            "unmapped",
            f"port range {text!r} cannot be published one to one",
            "list each HOST_PORT:PORT pair",
        )
        return []
    prefix = f"{host_ip}:" if host_ip and host_ip not in ("0.0.0.0", "::", "[::]") else ""
    return [f"{prefix}{p_low + i}:{t_low + i}" for i in range(t_high - t_low + 1)]


def _range(text: str) -> tuple[int | None, int | None]:
    low, sep, high = text.strip().partition("-")
    if not low.isdigit() or (sep and not high.isdigit()):
        return None, None
    first, last = int(low), int(high) if sep else int(low)
    if not (1 <= first <= last <= 65535):
        return None, None
    return first, last
