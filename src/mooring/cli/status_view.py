"""Text of ``status``, ``status --explain``, ``history`` and event timelines."""

from __future__ import annotations

from typing import Any

from mooring.cli.counts import targets_phrase
from mooring.cli.plain import echo
from mooring.cli.tables import human_duration, text_table

EVENT_KEYS_SHOWN_ELSEWHERE = {"app_seq", "release_id", "seq", "type", "at"}


def _p(text: str = "") -> None:
    echo(text)


def release_header(rel: dict[str, Any]) -> list[str]:
    source = f"  source {rel['source_release_id']}" if rel["source_release_id"] else ""
    return [
        f"release {rel['id']} (#{rel['number']})  {rel['status']}  rollout {rel['rollout']['state']}  "
        f"control {rel['rollout']['control']}",
        f"targets: {targets_phrase(rel['rollout'], unchanged=True)}",
        f"message: {rel['message']}",
        f"trigger: {rel['trigger']}{source}  created {rel['created_at'][:19]}",
    ]


def render_status(data: dict[str, Any]) -> None:
    rel, prev = data["current_release"], data["previous_successful_release"]
    _p(f"app {data['app']}" + (f": down (mooring down, release {rel['id']})" if data.get("down") else ""))
    if rel is None:
        _p("no releases yet")
    else:
        for line in release_header(rel):
            _p(line)
    _p(
        "previous successful release: "
        + (f"{prev['id']} (#{prev['number']}, created {prev['created_at'][:19]})" if prev else "none")
    )
    if rel is not None:
        _p()
        cells = [
            [
                x["target"],
                x["action"],
                x["state"],
                x["reason"] or "-",
                str(x["batch"]),
                x["instance_id"] or "-",
                x["detail"],
            ]
            for x in rel["targets"]
        ]
        _p(text_table(["TARGET", "ACTION", "STATE", "REASON", "BATCH", "INSTANCE", "DETAIL"], cells))
    _p()
    if data.get("crons"):
        _p(text_table(["CRON", "SCHEDULE", "LAST RUN", "OUTCOME", "NEXT DUE"], cron_rows(data["crons"])))
        _p()
    if not data["instances"]:
        _p("no instances")
        return
    cells = [
        [
            i["id"],
            i["service"],
            i["state"],
            i.get("health") or "-",
            str(i["pid"] or "-"),
            human_duration(i["uptime"]),
        ]
        for i in data["instances"]
    ]
    _p(text_table(["INSTANCE", "SERVICE", "STATE", "HEALTH", "PID", "UPTIME"], cells))


def local_time(iso: str | None) -> str:
    """An engine timestamp in this host's local time, to the second."""
    if iso is None:
        return "-"
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def cron_rows(crons: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for c in crons:
        last = c["last_run"]
        outcome = "-"
        if last is not None:
            code = f" ({last['exit_code']})" if last["exit_code"] not in (None, 0) else ""
            outcome = last["outcome"] + code
        rows.append(
            [
                c["name"],
                c["schedule"] or f"every {c['every']}",
                local_time(last["started_at"]) if last else "-",
                "running" if c["running"] else outcome,
                local_time(c["next_due"]) if c["next_due"] else "after the run",
            ]
        )
    return rows


def render_explain(data: dict[str, Any]) -> None:
    rel = data["release"]
    _p(f"app {rel['app']}")
    for line in release_header(rel):
        _p(line)
    gate = data["gate"]
    _p()
    if gate is None and rel["status"] not in ("pending", "in_progress"):
        _p(f"waiting on: nothing, the release ended {rel['status']}")
    elif gate is None:
        _p("waiting on: nothing (no executor waits on a gate)")
    elif gate["kind"] == "operator":
        _p(f"waiting on: you. {gate['detail']}")
    else:
        _p(
            f"waiting on: the readiness gate of batch {gate['batch']} ({gate['service']}), deadline {gate['deadline']}"
        )
        _p(f"  {gate['detail']}")
    for line in analysis_lines(rel.get("failure") or {}):
        _p(line)
    for t in data["targets"]:
        _p()
        _p(
            f"{t['target']}  {t['state']}"
            + (f"  {t['reason']}" if t["reason"] else "")
            + f"  instance {t['instance_id'] or '-'}"
        )
        if t["detail"]:
            _p(f"  detail: {t['detail']}")
        probe = t["probe"]
        if probe is not None:
            code = (
                f"HTTP {probe['status_code']}"
                if probe["status_code"] is not None
                else f"exit {probe['exit_code']}"
                if probe["exit_code"] is not None
                else "no status"
            )
            detail = probe["detail"]
            # an HTTP probe's detail already starts with its status ("HTTP 500: sick"): say it once
            said = detail if detail.startswith(code) else f"{code}: {detail}"
            _p(f"  last probe: {probe['health']}, {said}")
        if t["exit"] is not None and t["exit"]["message"]:
            _p(f"  process: {t['exit']['state']}, {t['exit']['message']}")
        if t.get("first_error"):
            _p(f"  first error: {t['first_error']}")
        if t["logs"]:
            _p(f"  last {len(t['logs'])} log lines:")
            for line in t["logs"]:
                _p(f"    {line}")
    _p()
    if data["next"]:
        _p("next:")
        for cmd in data["next"]:
            _p(f"  {cmd}")
    else:
        _p("next: nothing to do")


def history_table(rows: list[dict[str, Any]]) -> str:
    cells = []
    for r in rows:
        mark = "current" if r["current"] else "prev-ok" if r["previous_successful"] else ""
        cells.append(
            [
                mark,
                str(r["number"]),
                r["id"],
                r["trigger"],
                r["source_release_id"] or "-",
                r["status"],
                r["rollout"]["state"],
                r["rollout"]["control"],
                targets_phrase(r["rollout"]),
                r["created_at"][:19],
                r["message"],
            ]
        )
    headers = [
        "MARK",
        "#",
        "RELEASE",
        "TRIGGER",
        "SOURCE",
        "STATUS",
        "ROLLOUT",
        "CTRL",
        "TARGETS",
        "CREATED",
        "MESSAGE",
    ]
    return text_table(headers, cells)


def event_line(e: dict[str, Any]) -> str:
    """``#12  2026-11-26T18:20:01  3f2a9c0d1e4b/4  target.ready  target=web-1 ...``"""
    where = f"{e['release_id']}/{e['seq']}" if e.get("release_id") else "-"
    fields = " ".join(
        f"{k}={v}"
        for k, v in e.items()
        if k not in EVENT_KEYS_SHOWN_ELSEWHERE and v not in (None, "", [], {})
    )
    return f"#{e['app_seq']}  {e['at'][:23]}  {where}  {e['type']}  {fields}".rstrip()


def timeline_lines(events: list[dict[str, Any]]) -> list[str]:
    if not events:
        return ["no events"]
    start = events[0]["at"]
    from datetime import datetime

    t0 = datetime.fromisoformat(start)
    lines = []
    for e in events:
        offset = (datetime.fromisoformat(e["at"]) - t0).total_seconds()
        fields = " ".join(
            f"{k}={v}"
            for k, v in e.items()
            if k not in EVENT_KEYS_SHOWN_ELSEWHERE and v not in (None, "", [], {})
        )
        lines.append(f"{e['seq']:>4}  {f'+{offset:.3f}s':>10}  {e['type']:<26} {fields}".rstrip())
    return lines


def print_proxy(services: list[dict[str, Any]]) -> None:
    """The published ports: per service and per instance, connections, bytes and errors."""
    from mooring.cli.plain import echo
    from mooring.cli.tables import human_bytes, text_table

    if not services:
        return
    cells = []
    for svc in services:
        listen = ",".join(lst["address"] for lst in svc["listeners"]) or "-"
        rows = [(svc["service"], listen, svc["counters"])]
        rows += [
            (f"  {i['id']}", (i["upstream"] or "-") + ("" if i["serving"] else " (draining)"), i["counters"])
            for i in svc["instances"]
        ]
        for name, where, c in rows:
            cells.append(
                [
                    name,
                    where,
                    str(c["connections"]),
                    str(c["active"]),
                    human_bytes(c["bytes_in"]),
                    human_bytes(c["bytes_out"]),
                    str(c["errors"]),
                ]
            )
    echo("proxy:")
    echo(text_table(["SERVICE/INSTANCE", "ADDRESS", "CONNS", "ACTIVE", "IN", "OUT", "ERRORS"], cells))


def print_routes(services: list[dict[str, Any]], maintenance: dict[str, Any]) -> None:
    """The HTTP routes: where each goes, its requests, and its host's certificate (issuer, expiry, error)."""
    from mooring.cli.tables import text_table

    routes = [(svc["service"], r) for svc in services for r in svc.get("routes", [])]
    if not routes:
        return
    if maintenance.get("maintenance"):
        echo(f"maintenance: on, routes answer 503 ({maintenance.get('message')})")
    cells = []
    for service, r in routes:
        cert = r.get("certificate") or {}
        if not r["tls"]:
            tls = "-"
        elif cert.get("not_after"):
            tls = f"{r['tls']}: {cert.get('issuer')}, expires {cert['not_after']}"
        else:
            tls = f"{r['tls']}: none yet"
        if cert.get("last_error"):
            tls += f"; last error: {cert['last_error']}"
        c = r.get("counters") or {}
        s = r.get("servers") or {}
        up = f"{s.get('up', 0)}/{s.get('total', 0)}" + (" checked" if r.get("health_path") else "")
        cells.append([r["host"], r["path"], f"{service}:{r['port']}", up, str(c.get("requests", 0)), tls])
    echo("routes:")
    echo(text_table(["HOST", "PATH", "SERVICE:PORT", "UP", "REQUESTS", "TLS"], cells))


def analysis_lines(failure: dict[str, Any]) -> list[str]:
    """The figures of a failed rollout.analysis gate (new instances against the old ones)."""
    if failure.get("reason") != "analysis_failed":
        return []
    f = failure.get("figures") or {}
    old_ratio = f.get("old_ratio_5xx")
    old = (
        "no requests"
        if not f.get("old_requests")
        else (f"{f['old_requests']} requests, 5xx {old_ratio:.1%}, mean {f.get('old_response_ms')} ms")
    )
    return [
        f"analysis_failed at batch {failure.get('batch')} ({failure.get('service')}): "
        + "; ".join(f.get("failures") or []),
        f"  new instances: {f.get('requests')} requests, {f.get('errors_5xx')} 5xx "
        f"({f.get('ratio_5xx', 0):.1%}), mean {f.get('response_ms')} ms",
        f"  old instances: {old}",
    ]
