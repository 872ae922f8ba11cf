"""The performance targets of the issues, and the verdict of one suite run against each of them.

A target names a scenario of a benchmark (its ``bench``, scenario ``name`` and ``n``), a bound on
mooring's median and, for some, that mooring must also be ahead of every peer measured in the same
run. ``verdicts`` reads the suite's results (the JSON each benchmark writes) and says, per target,
the figure, met or missed and by how much, and the ratio to the best peer; a target whose scenario
was not measured in the run says so instead of passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KIB_IN_MIB = 1 / 1024


@dataclass(frozen=True)
class Target:
    issue: int
    bench: str
    scenario: str
    n: int | None
    bound: float
    unit: str
    better: str = "lower"  # "lower": the median must be <= bound; "higher": >= bound
    ahead_of_peers: bool = False
    label: str = ""

    def describe(self) -> str:
        sign = "<=" if self.better == "lower" else ">="
        size = f", N = {self.n}" if self.n is not None else ""
        peers = " and ahead of every peer" if self.ahead_of_peers else ""
        return f"{self.label or self.scenario}{size}: {sign} {self.bound:g} {self.unit}{peers}"


TARGETS: tuple[Target, ...] = (
    Target(19, "engine", "start all", 500, 0.8, "s", ahead_of_peers=True),
    Target(19, "engine", "stop all", 500, 0.12, "s"),
    Target(19, "rollout", "rolling restart P=1 (no gating)", 100, 0.4, "s"),
    Target(
        19,
        "rollout",
        "overhead/replica, gated, P=1",
        10,
        2.0,
        "ms",
        label="executor overhead per gated replica",
    ),
    Target(
        19,
        "rollout",
        "overhead/replica, gated, P=10",
        100,
        2.0,
        "ms",
        label="executor overhead per gated replica",
    ),
    Target(19, "engine", "status CLI (mooring ps)", 500, 0.06, "s", label="mooring ps wall"),
    Target(19, "engine", "status CLI (mooring status --app)", 500, 0.06, "s", label="mooring status wall"),
    Target(19, "engine", "status API", 500, 8.0, "ms"),
    Target(19, "engine", "idle PSS, no instance", 500, 35.0, "MiB", label="engine idle PSS with no instance"),
    Target(
        19,
        "engine",
        "PSS growth per instance",
        500,
        4 * KIB_IN_MIB,
        "MiB",
        label="PSS growth per instance (4 KiB)",
    ),
    Target(19, "engine", "idle CPU", 500, 0.3, "%"),
    Target(14, "proxy", "keepalive throughput vs direct", None, 70.0, "%", better="higher"),
    Target(14, "proxy", "newconn throughput vs direct", None, 60.0, "%", better="higher"),
)


@dataclass(frozen=True)
class Verdict:
    target: Target
    median: float | None  # None: the scenario was not in this run
    met: bool
    factor: float | None  # how far from the bound: median / bound (lower) or bound / median (higher)
    best_peer: tuple[str, float] | None
    peer_ratio: float | None  # median / best peer's median (lower is better) or its inverse (higher)
    behind_peers: list[str]

    def line(self) -> str:
        t = self.target
        if self.median is None:
            return f"| {t.issue} | {t.describe()} | not measured in this run | - | - |"
        if self.met:
            verdict = "met"
        elif self.behind_peers:
            within = self.factor is None or self.factor <= 1
            verdict = ("behind " if within else f"missed by {self.factor:.3g}x, behind ") + ", ".join(
                self.behind_peers
            )
        else:
            verdict = f"missed by {self.factor:.3g}x" if self.factor is not None else "missed"
        peer = "-"
        if self.best_peer is not None:  # a peer at 0 (idle CPU) gives no ratio
            ratio = f" ({self.peer_ratio:.2g}x)" if self.peer_ratio is not None else ""
            peer = f"{self.best_peer[0]} {self.best_peer[1]:.4g}{ratio}"
        return f"| {t.issue} | {t.describe()} | {self.median:.4g} {t.unit} | {verdict} | {peer} |"


def _scenario(results: list[dict[str, Any]], target: Target) -> dict[str, Any] | None:
    for result in results:
        if result.get("bench") != target.bench:
            continue
        scenario: dict[str, Any]
        for scenario in result.get("scenarios", []):
            if scenario.get("name") == target.scenario and scenario.get("n") == target.n:
                return scenario
    return None


def verdict(target: Target, results: list[dict[str, Any]]) -> Verdict:
    scenario = _scenario(results, target)
    if scenario is None:
        return Verdict(target, None, False, None, None, None, [])
    median = float(scenario["mooring"]["median"])
    lower = target.better == "lower"
    within = median <= target.bound if lower else median >= target.bound
    if lower:
        factor = median / target.bound if target.bound else None
    else:
        factor = target.bound / median if median else None
    peers = {
        name: float(p["median"])
        for name, p in (scenario.get("peers") or {}).items()
        if p.get("median") is not None
    }
    best = (min if lower else max)(peers.items(), key=lambda kv: kv[1]) if peers else None
    ratio = None
    if best is not None and best[1]:
        ratio = median / best[1] if lower else best[1] / median if median else None
    behind = (
        sorted(name for name, value in peers.items() if (value < median if lower else value > median))
        if target.ahead_of_peers
        else []
    )
    return Verdict(target, median, within and not behind, factor, best, ratio, behind)


def verdicts(results: list[dict[str, Any]], targets: tuple[Target, ...] = TARGETS) -> list[Verdict]:
    return [verdict(t, results) for t in targets]


def markdown(results: list[dict[str, Any]]) -> list[str]:
    """The report's targets section: one row per target of every issue."""
    rows = verdicts(results)
    met = sum(v.met for v in rows)
    measured = sum(v.median is not None for v in rows)
    return [
        f"{met} of {len(rows)} targets met ({measured} measured in this run). The ratio to the best peer is",
        "mooring's median over the peer's (over 1: mooring behind) for lower-is-better figures.",
        "",
        "| issue | target | mooring (median) | verdict | best peer (ratio) |",
        "|---|---|---|---|---|",
        *(v.line() for v in rows),
    ]
