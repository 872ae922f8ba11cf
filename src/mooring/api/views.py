"""Response models of the operator routes: they document /openapi.json, filter what the engine answers,
and are the source of the JSON Schemas shipped in docs/schemas (``python -m mooring.api.views DIR``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mooring.api.schemas import InstanceView

Status = Literal[
    "pending",
    "in_progress",
    "completed",
    "partially_failed",
    "failed",
    "rolled_back",
    "cancelled",
    "superseded",
]
RolloutState = Literal[
    "pending",
    "starting",
    "rolling",
    "verifying",
    "stable",
    "blocked",
    "degraded",
    "failed",
    "rolled_back",
    "cancelled",
    "superseded",
]
ControlState = Literal["active", "paused", "cancel_requested"]
TargetState = Literal["pending", "starting", "ready", "failed", "rolled_back", "skipped", "removed"]
ActionName = Literal["create", "replace", "unchanged", "remove"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Strict):
    code: str = Field(description="stable error code, e.g. not_found, lease_conflict")
    message: str
    hint: str | None = None


class TargetCounts(Strict):
    total: int
    ready: int
    failed: int
    unchanged: int
    removed: int
    left: int = Field(description="pending + starting")
    rolled_back: int = Field(0, description="put back on the previous version after a failure")


class Rollout(Strict):
    state: RolloutState = Field(description="derived on read (docs/releases.md)")
    control: ControlState
    active: bool = Field(description="an executor works on the release now")
    targets: TargetCounts


class TargetView(Strict):
    target: str
    service: str
    replica: int
    action: ActionName
    state: TargetState
    reason: str | None
    detail: str
    batch: int
    instance_id: str | None
    previous_instance_id: str | None


class ReleaseSummary(Strict):
    id: str
    app: str
    number: int
    status: Status
    rollout: Rollout
    trigger: Literal["apply", "rollback", "restart", "down"]
    source_release_id: str | None
    superseded_by: str | None
    manifest_hash: str
    scope: Literal["fresh", "replacement"]
    service_filter: list[str] | None
    message: str
    failure: dict[str, Any] | None
    resumed_count: int
    created_at: str
    started_at: str | None
    finished_at: str | None


class ReleaseView(ReleaseSummary):
    """The release object: ``up --json``, ``GET /v1/releases/{id}``."""

    targets: list[TargetView]


class NothingToDoView(Strict):
    """``up --json`` / ``rollback --json`` when the apply would change nothing: no release recorded."""

    nothing_to_do: Literal[True]
    message: str = Field(description="nothing to do: release <id> is current")
    release: ReleaseSummary = Field(description="the current release, which already is what was asked")


class HistoryEntry(ReleaseSummary):
    """One row of ``history --json``, newest first."""

    current: bool = Field(description="the app's newest release")
    previous_successful: bool = Field(
        description="prev-ok: the newest completed release before the current one with a different "
        "manifest, what `rollback` restores"
    )


RunOutcome = Literal["succeeded", "failed", "timed_out", "could_not_start", "exit_unknown"]


class RunView(Strict):
    """One run of a worker or cron: ``POST /v1/apps/{app}/workers/{name}/run`` and ``/runs/{id}/wait``."""

    app: str
    kind: Literal["worker", "cron"]
    name: str
    release_id: str
    trigger: Literal["manual", "schedule"]
    instance_id: str = Field(description="empty when it could not start")
    started_at: float = Field(description="epoch seconds")
    finished_at: float | None
    outcome: RunOutcome | None = Field(description="null while it runs")
    exit_code: int | None
    error: str | None


class CronRun(Strict):
    instance_id: str | None
    trigger: Literal["manual", "schedule"]
    started_at: str | None
    finished_at: str | None
    outcome: Literal["running", "succeeded", "failed", "timed_out", "could_not_start", "exit_unknown"]
    exit_code: int | None


class CronView(Strict):
    """One cron of the app's live release."""

    name: str
    schedule: str | None = Field(description="cron syntax, in the engine host's local time zone")
    every: str | None = Field(description="interval counted from the end of the previous run")
    timeout: str | None
    release_id: str
    running: bool
    next_due: str | None = Field(description="null while an every-cron runs")
    last_run: CronRun | None = Field(description="null until it ran under this engine")


class RouteCounters(Strict):
    """What the edge (HAProxy's ``show stat``) counted on one HTTP route since HAProxy last reloaded."""

    requests: int
    http_2xx: int
    http_4xx: int
    http_5xx: int
    bytes_in: int = Field(description="client to instance")
    bytes_out: int = Field(description="instance to client")
    active: int = Field(description="sessions open now")
    connections: int = Field(description="sessions in all")


class RouteStatus(Strict):
    """One ``[[service.NAME.route]]`` the edge serves for the app."""

    service: str
    host: str
    path: str
    port: int = Field(description="the instance-side port")
    tls: Literal["acme", "files"] | None
    health_path: str | None = Field(description="HAProxy checks each upstream server with GET health_path")
    servers_up: int = Field(description="instances in rotation that HAProxy sends the route's requests to")
    servers_total: int = Field(description="instances in rotation for the route")
    counters: RouteCounters


class AppStatus(Strict):
    """``status --app --json``."""

    app: str
    down: bool = Field(
        description="the app was taken down (`mooring down`): its current release has trigger down"
    )
    current_release: ReleaseView | None
    previous_successful_release: ReleaseSummary | None
    instances: list[InstanceView]
    crons: list[CronView] = Field(description="the crons of the live release; empty after down")
    routes: list[RouteStatus] = Field(
        default_factory=list, description="the app's HTTP routes on the edge, with their counters"
    )


class InstanceCounts(Strict):
    total: int
    healthy: int = Field(description="running and healthy, or running without a health check")


class AppSummary(Strict):
    """One row of ``apps --json``."""

    app: str
    down: bool = Field(
        description="the app was taken down (`mooring down`): its current release has trigger down"
    )
    current_release: ReleaseSummary | None
    previous_successful_release: ReleaseSummary | None
    instances: InstanceCounts
    updated_at: str


class FieldChangeView(Strict):
    path: str
    old: Any
    new: Any
    kind: Literal["changed", "added", "removed"]
    restart: bool


class DriftView(Strict):
    target: str
    instance_id: str | None
    kind: Literal["missing", "not_running", "spec_differs", "extra"]
    detail: str


class PlanTarget(Strict):
    target: str
    service: str
    replica: int
    action: ActionName
    batch: int | None
    previous_instance_id: str | None
    from_spec_hash: str | None
    to_spec_hash: str | None


class Gate(Strict):
    readiness_timeout: float
    min_ready: float
    health_check: str | None
    failure_action: Literal["pause", "rollback"]
    max_failure_ratio: float


class BatchView(Strict):
    number: int
    service: str
    targets: list[str]
    strategy: Literal["rolling", "canary", "blue_green"]
    order: Literal["start_first", "stop_first"]
    delay_before: float
    gate: Gate
    bound_seconds: float


class DurationBound(Strict):
    seconds: float
    assumes: str


class PlanView(Strict):
    """``up --dry-run --json``, ``POST /v1/apps/{app}/plan``."""

    app: str
    manifest_hash: str
    against: Literal["engine", "empty_host"] = Field(
        description="engine: planned against what the engine runs; empty_host: no engine was running"
    )
    current_release_id: str | None
    scope: Literal["fresh", "replacement"]
    selected: list[str] | None
    counts: dict[str, int]
    changes: list[FieldChangeView]
    drift: list[DriftView]
    targets: list[PlanTarget]
    batches: list[BatchView]
    duration_bound: DurationBound


class RollbackPreview(Strict):
    """``rollback --print --json``."""

    app: str
    source_release: ReleaseSummary
    reason: str = Field(description="why this release: which one is abandoned and what served before it")
    plan: PlanView


class GateWait(Strict):
    kind: Literal["readiness", "operator"]
    batch: int | None
    service: str | None
    deadline: str | None
    detail: str


class ProbeView(Strict):
    health: str
    ok: bool | None
    detail: str
    status_code: int | None
    exit_code: int | None
    at: str | None


class ExitView(Strict):
    state: str
    exit_code: int | None
    message: str


class ExplainTarget(Strict):
    target: str
    state: TargetState
    reason: str | None
    detail: str
    instance_id: str | None
    probe: ProbeView | None
    exit: ExitView | None
    logs: list[str]
    first_error: str | None  # the first line of the instance's output that names an error


class Explain(Strict):
    """``status --app NAME --explain --json``."""

    release: ReleaseView
    gate: GateWait | None
    targets: list[ExplainTarget]
    next: list[str]


class EventView(BaseModel):
    """One event: its numbers, type, time and the event's own fields (open-ended)."""

    model_config = ConfigDict(extra="allow")

    app_seq: int
    release_id: str | None
    seq: int | None = Field(description="per-release sequence number")
    type: str
    at: str


SCHEMAS: dict[str, type[BaseModel]] = {
    "release.json": ReleaseView,
    "status.json": AppStatus,
    "history.json": HistoryEntry,
    "apps.json": AppSummary,
    "plan.json": PlanView,
    "rollback-preview.json": RollbackPreview,
    "explain.json": Explain,
    "event.json": EventView,
    "run.json": RunView,
    "nothing-to-do.json": NothingToDoView,
}
LISTS = {"history.json", "apps.json"}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one document of docs/schemas (history and apps are arrays)."""
    schema = SCHEMAS[name].model_json_schema()
    if name in LISTS:
        defs = schema.pop("$defs", {})
        schema = {"type": "array", "items": schema, **({"$defs": defs} if defs else {})}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"mooring/{name}", **schema}


def write_schemas(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        (directory / name).write_text(json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"))
