"""What a resumed `logs -f` prints: the pure bookkeeping of client/log_follow.py (the real path is in
test_reconnect.py)."""

from __future__ import annotations

from mooring.client.log_follow import Printed

A = "2026-11-26T15:35:01.000100Z"
B = "2026-11-26T15:35:01.000200Z"
C = "2026-11-26T15:35:02.000000Z"


def test_lines_printed_before_a_reconnect_are_not_printed_again() -> None:
    printed = Printed()
    assert all(printed.fresh(line) for line in (f"web-1 | {A} a", f"web-2 | {B} b", f"web-1 | {B} c"))
    since = printed.since()
    # from a millisecond before the last stamp printed (B): nothing written after it is missed
    assert since is not None and abs(since - (1795707301.0002 - 0.001)) < 1e-6
    printed.resumed = True
    replay = [f"web-1  | {A} a", f"web-2  | {B} b", f"web-1  | {B} c", f"web-1  | {C} d"]  # wider labels
    assert [line for line in replay if printed.fresh(line)] == [f"web-1  | {C} d"]


def test_a_replica_line_arriving_late_is_still_printed() -> None:
    printed = Printed()
    assert printed.fresh(f"web-1 | {C} later")
    assert printed.fresh(f"web-2 | {A} earlier, delivered after")
