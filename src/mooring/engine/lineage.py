"""Which release is which in an app's history: what served before the newest one (prev-ok, what a
rollback restores, and why), what a restart re-applies, and the answer of an apply that changes nothing.
Read-only over the store."""

from __future__ import annotations

from dataclasses import dataclass

from mooring.errors import Conflict, NotFound
from mooring.store import Release, Store


@dataclass(frozen=True)
class NothingToDo:
    """An apply that would change nothing: no release is recorded; ``current`` already is it."""

    current: Release

    @property
    def message(self) -> str:
        return f"nothing to do: release {self.current.id} is current"


def prev_ok_reason(latest: Release, previous: Release) -> str:
    """Why ``previous`` is the rollback target: which release is abandoned, and in what state."""
    state = latest.status if latest.control == "active" else f"{latest.status}, {latest.control}"
    if latest.status == "completed":
        abandoned = f"the newest release {latest.id} (#{latest.number}) is completed and serves now"
    else:
        abandoned = f"the newest release {latest.id} (#{latest.number}) is {state}"
    return (
        f"{abandoned}; release {previous.id} (#{previous.number}) is the newest completed release "
        "before it with a different manifest: what served before it (prev-ok)"
    )


def rollback_choice(store: Store, app: str, release_id: str | None) -> tuple[Release, str]:
    """The release a rollback restores, and why: ``--release ID``, else the ``prev-ok`` mark."""
    if release_id:
        target = store.get_release(release_id)
        if target.app != app:
            raise NotFound(f"release {release_id} belongs to app {target.app!r}, not {app!r}")
        if target.status != "completed":
            raise Conflict(
                f"release {release_id} is {target.status}; only a completed release can be restored",
                hint=f"mooring history --app {app} marks the completed ones",
            )
        return target, f"release {target.id} (#{target.number}) was asked for with --release"
    latest = store.latest_release(app)
    if latest is None:
        raise NotFound(f"app {app!r} has no release to roll back from")
    previous = prev_ok(store, latest)
    if previous is None:
        raise NotFound(
            f"app {app!r} has no completed release before {latest.id} (#{latest.number}) "
            "that differs from it",
            hint="pass --release ID to choose one (mooring history lists them)",
        )
    return previous, prev_ok_reason(latest, previous)


def prev_ok(store: Store, latest: Release) -> Release | None:
    """What served before the newest release: the newest completed release before it whose
    manifest differs from it (a forced re-apply of the same manifest is not a step back)."""
    before: int | None = latest.number
    while True:
        page = store.list_releases(latest.app, limit=200, before_number=before)
        for candidate in page:
            if (
                candidate.status == "completed"
                and candidate.trigger != "down"  # restoring a down is `mooring down`, not a rollback
                and candidate.manifest_hash != latest.manifest_hash
            ):
                return candidate
        if len(page) < 200:
            return None
        before = page[-1].number


def serving_base(store: Store, app: str) -> Release:
    """What `mooring restart` re-applies: the newest completed release that runs something."""
    for release in store.list_releases(app, limit=200):
        if release.status == "completed" and release.trigger != "down":  # a down's snapshot runs nothing
            return release
    raise NotFound(f"app {app!r} has no completed release to restart", hint="apply it with: mooring up")
