"""The suite's verdicts against the issues' performance targets (pure logic over result dicts)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import targets


def result(bench: str, name: str, n: int | None, median: float, **peers: float) -> dict[str, Any]:
    scenario = {
        "name": name,
        "n": n,
        "mooring": {"min": median, "median": median},
        "peers": {p: {"min": v, "median": v} for p, v in peers.items()},
    }
    return {"bench": bench, "scenarios": [scenario]}


START = targets.TARGETS[0]


def test_a_target_within_bound_and_ahead_of_peers_is_met() -> None:
    v = targets.verdict(START, [result("engine", "start all", 500, 0.7, circus=1.2, supervisord=2.0)])
    assert v.met and v.behind_peers == []
    assert v.best_peer == ("circus", 1.2)
    assert "| met |" in v.line()


def test_within_bound_but_behind_a_peer_is_missed_and_names_the_peer() -> None:
    v = targets.verdict(START, [result("engine", "start all", 500, 0.7, circus=0.5, supervisord=2.0)])
    assert not v.met and v.behind_peers == ["circus"]
    assert "behind circus" in v.line() and "missed by" not in v.line()


def test_a_missed_bound_says_by_how_much_and_the_peer_ratio() -> None:
    v = targets.verdict(START, [result("engine", "start all", 500, 4.0, circus=2.0)])
    assert not v.met and v.factor == 5.0 and v.peer_ratio == 2.0
    assert "missed by 5x" in v.line() and "circus 2 (2x)" in v.line()


def test_higher_is_better_targets_compare_the_other_way() -> None:
    keepalive = next(t for t in targets.TARGETS if t.scenario == "keepalive throughput vs direct")
    assert targets.verdict(keepalive, [result("proxy", keepalive.scenario, None, 72.0, haproxy=50.0)]).met
    missed = targets.verdict(keepalive, [result("proxy", keepalive.scenario, None, 35.0, haproxy=50.0)])
    assert not missed.met and missed.factor == 2.0


def test_a_scenario_not_in_the_run_is_reported_not_passed() -> None:
    v = targets.verdict(START, [result("engine", "start all", 10, 0.1)])  # another N
    assert v.median is None and not v.met
    assert "not measured" in v.line()
    lines = targets.markdown([])
    assert lines[0].startswith(f"0 of {len(targets.TARGETS)} targets met (0 measured")


def test_a_best_peer_at_zero_gives_no_ratio_but_a_line() -> None:
    idle = next(t for t in targets.TARGETS if t.scenario == "idle CPU")
    v = targets.verdict(idle, [result("engine", "idle CPU", 500, 0.4, pm2=0.0, circus=0.1)])
    assert v.best_peer == ("pm2", 0.0) and v.peer_ratio is None and not v.met
    assert "pm2 0 |" in v.line()
