"""How a release's outcome reads and exits (docs/cli.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mooring.client import Client

EXIT_BY_STATUS = {
    "completed": 0,
    "failed": 3,
    "partially_failed": 4,
    "rolled_back": 5,
    "cancelled": 6,
    "superseded": 7,
}
EXIT_BLOCKED = 7


def exit_code(release: dict[str, Any]) -> int:
    if release["rollout"]["control"] == "paused" or release["rollout"]["state"] == "blocked":
        return EXIT_BLOCKED
    if release["status"] == "partially_failed" and release["rollout"]["control"] == "active":
        return 4
    return EXIT_BY_STATUS.get(release["status"], 1)


def settled(release: dict[str, Any]) -> bool:
    """No executor works on it any more: it ended, paused or was cancelled."""
    return not release["rollout"]["active"]


def outcome_line(release: dict[str, Any]) -> str:
    t = release["rollout"]["targets"]
    return (
        f"release {release['id']} {release['status']}: {release['message']} "
        f"({t['ready']} ready, {t['failed']} failed, {t['unchanged']} unchanged)"
    )


def follow(
    client: Client, release_id: str, on_update: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Long-poll the engine until the release settles; never gives up on a long rollout."""
    while True:
        release: dict[str, Any] = client.get(f"/v1/releases/{release_id}/wait", timeout=60.0)
        if on_update is not None:
            on_update(release)
        if settled(release):
            return release
