"""``restart``, ``deploy`` (replicas, resources, update_config, restart_policy) and the resource
shorthands as the manifest's ``restart``, ``replicas``, ``resources`` and ``rollout``."""

from __future__ import annotations

from typing import Any

from mooring.compose.draft import ServiceContext, Table
from mooring.compose.values import byte_size, cpus, duration_text, go_duration, memory_text

_DEPLOY_UNMAPPED = {
    "mode": ("a global service (one per node) has no meaning on one host", "set replicas"),
    "placement": ("placement constraints have no meaning on one host", ""),
    "endpoint_mode": ("mooring's edge balances over the instances itself", ""),
    "labels": ("service labels are not set", "keep metadata in comments"),
    "rollback_config": (
        "a rollback follows the service's own rollout policy",
        "set [service.NAME.rollout] for how rollbacks roll",
    ),
}


def convert_deploy(service: dict[str, Any], table: Table, ctx: ServiceContext, *, worker: bool) -> None:
    deploy = service.get("deploy") or {}
    _restart(service, deploy, table, ctx, worker)
    _replicas(service, deploy, table, ctx, worker)
    _resources(service, deploy, table, ctx)
    if isinstance(deploy.get("update_config"), dict):
        if worker:
            ctx.report(ctx.key("deploy", "update_config"), "unmapped", "a worker has no rollout")
        else:
            table.tables["rollout"] = _rollout(
                deploy["update_config"], ctx, int(table.values.get("replicas", 1))
            )
    for key, value in deploy.items():
        if key in _DEPLOY_UNMAPPED and not (key == "mode" and value == "replicated"):
            message, hint = _DEPLOY_UNMAPPED[key]
            ctx.report(ctx.key("deploy", key), "unmapped", message, hint)
        elif key.startswith("x-"):
            ctx.report(ctx.key("deploy", key), "info", "an extension field; Compose ignores it too")


def _restart(
    service: dict[str, Any], deploy: dict[str, Any], table: Table, ctx: ServiceContext, worker: bool
) -> None:
    policy = deploy.get("restart_policy")
    if isinstance(policy, dict):
        condition = {"none": "no", "on-failure": "on-failure", "any": "always"}.get(
            str(policy.get("condition", "any")), "always"
        )
        if "max_attempts" in policy:
            table.set("max_restarts", int(policy["max_attempts"]))
        for extra in ("delay", "window"):
            if extra in policy:
                ctx.report(
                    ctx.key("deploy", "restart_policy", extra),
                    "unmapped",
                    f"restart {extra} is not set",
                    "mooring restarts with exponential backoff (docs/runtime.md)",
                )
        source = ctx.key("deploy", "restart_policy")
    else:
        raw = str(service.get("restart", "no"))
        condition, _, attempts = raw.partition(":")
        if condition == "unless-stopped":
            condition = "always"
            ctx.report(
                ctx.key("restart"),
                "info",
                "unless-stopped is mooring's always: `mooring down` stops it and it stays stopped",
            )
        if attempts.isdigit():
            table.set("max_restarts", int(attempts))
        source = ctx.key("restart")
    if condition not in ("no", "always", "on-failure"):
        ctx.report(
            source,
            "error",
            f"restart {condition!r} is not a Compose restart policy",
            "use no, always, on-failure[:N] or unless-stopped",
        )
        return
    if worker and condition == "always":
        ctx.report(source, "changed", "a worker runs to completion; restart always becomes on-failure")
        condition = "on-failure"
    if "restart" not in service and not isinstance(policy, dict) and not worker:
        table.set("restart", "no", "Compose's default; mooring's is \"always\"")
    elif not (worker and condition == "no"):
        table.set("restart", condition)


def _replicas(
    service: dict[str, Any], deploy: dict[str, Any], table: Table, ctx: ServiceContext, worker: bool
) -> None:
    raw = deploy.get("replicas", service.get("scale"))
    if raw is None:
        return
    key = ctx.key("deploy", "replicas") if "replicas" in deploy else ctx.key("scale")
    count = int(raw)
    if worker:
        ctx.report(key, "unmapped", "a worker runs once; replicas do not apply")
    elif count < 1:
        ctx.report(
            key,
            "unmapped",
            f"{count} replicas: a service runs at least one instance",
            "leave the service out of the manifest to not run it",
        )
    elif count > 1000:
        ctx.report(key, "changed", f"{count} replicas is above mooring's limit; 1000 is used")
        table.set("replicas", 1000)
    else:
        table.set("replicas", count)


def _resources(service: dict[str, Any], deploy: dict[str, Any], table: Table, ctx: ServiceContext) -> None:
    resources = deploy.get("resources") or {}
    limits = resources.get("limits") or {}
    res = Table()
    for name, raw, convert in (
        ("cpu", limits.get("cpus", service.get("cpus")), cpus),
        ("memory", limits.get("memory", service.get("mem_limit")), lambda v: memory_text(byte_size(v))),
        ("pids", limits.get("pids", service.get("pids_limit")), int),
    ):
        if raw is None or (name == "pids" and int(raw) <= 0):
            continue
        try:
            res.set(name, convert(raw))
        except ValueError as exc:
            ctx.report(ctx.key("deploy", "resources", "limits"), "error", str(exc))
    if res.values:
        table.tables["resources"] = res
    for key in resources:
        if key != "limits":
            ctx.report(
                ctx.key("deploy", "resources", key),
                "unmapped",
                f"{key} are not supported",
                "set resources (limits) instead",
            )
    if "devices" in limits:
        ctx.report(
            ctx.key("deploy", "resources", "limits", "devices"), "unmapped", "devices are not passed through"
        )


def _rollout(update: dict[str, Any], ctx: ServiceContext, replicas: int) -> Table:
    key = ctx.key("deploy", "update_config")
    table = Table(comments=[f"from {key}"])
    if "parallelism" in update:
        parallelism = int(update["parallelism"])
        table.set(
            "parallelism",
            parallelism if parallelism > 0 else max(replicas, 1),
            "" if parallelism > 0 else "0 in Compose: all at once",
        )
    for compose_key, manifest_key in (("delay", "delay_between_batches"), ("monitor", "min_ready")):
        if compose_key in update:
            table.set(manifest_key, duration_text(go_duration(update[compose_key])))
    action = update.get("failure_action")
    if action in ("pause", "rollback"):
        table.set("failure_action", action)
    elif action == "continue":
        table.set("max_failure_ratio", 1.0, 'failure_action = "continue" in Compose')
        ctx.report(
            f"{key}.failure_action",
            "changed",
            "continue becomes max_failure_ratio = 1: the rollout goes on past failed instances",
        )
    if "max_failure_ratio" in update and action != "continue":
        table.set("max_failure_ratio", float(update["max_failure_ratio"]))
    order = update.get("order")
    if order in ("start-first", "stop-first"):
        table.set("order", order.replace("-", "_"))
    elif "order" not in update:
        table.set("order", "stop_first", "Compose's default for update_config")
    return table
