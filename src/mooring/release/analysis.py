"""The analysis gate (``rollout.analysis``): a batch judged on the live traffic its new instances
serve, read from the edge's per-server counters, beside the old instances still serving.

No metrics stack: HAProxy sees every response. The decision itself is pure (decide.judge_traffic);
this module only measures a window and reports it as events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mooring.manifest.models import Analysis
from mooring.release.decide import judge_traffic, pooled, traffic_between
from mooring.release.model import TargetState
from mooring.release.ports import Runtime, TargetRecord


async def watch_batch(
    runtime: Runtime,
    targets: Sequence[TargetRecord],
    number: int,
    service: str,
    analysis: Analysis,
    event: Callable[..., None],
    sleep: Callable[[float], Awaitable[bool]],
) -> tuple[str, dict[str, Any]]:
    """Watch batch ``number``'s new instances for ``analysis.window``; (verdict, figures).

    The verdict is ``passed``, ``failed``, ``inconclusive`` (too few requests: passes) or
    ``interrupted`` (the operator paused or cancelled meanwhile: no verdict).
    """
    mine = [t for t in targets if t.service == service]
    new = [
        t.instance_id for t in mine if t.batch == number and t.state == TargetState.READY and t.instance_id
    ]
    # the old version still serving: slots of later batches not replaced yet
    old = [t.previous_instance_id for t in mine if t.state == TargetState.PENDING and t.previous_instance_id]
    event("analysis.started", batch=number, service=service, window=analysis.window, instances=new)
    before = await runtime.traffic([*new, *old])
    if await sleep(analysis.window):
        return "interrupted", {}
    after = await runtime.traffic([*new, *old])
    fresh = pooled(traffic_between(before[i], after[i]) for i in new)
    still = pooled(traffic_between(before[i], after[i]) for i in old)
    verdict, figures = judge_traffic(fresh, still, analysis)
    event(f"analysis.{verdict}", batch=number, service=service, **figures)
    return verdict, figures
