"""Release snapshots as the engine reads them: decoded once per release (a release's snapshot never
changes), shared by the executor's runtime, the cron scheduler, one-shot runs and the published ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mooring.manifest.snapshot import ReleaseSnapshot


class Snapshots:
    """``snapshot_text(release_id)`` reads the recorded text (the store's ``get_release(id).snapshot``)."""

    def __init__(self, snapshot_text: Callable[[str], str]) -> None:
        self._text = snapshot_text
        self._decoded: dict[str, ReleaseSnapshot] = {}

    def decoded(self, release_id: str) -> ReleaseSnapshot:
        if release_id not in self._decoded:
            self._decoded[release_id] = ReleaseSnapshot.decode(self._text(release_id))
        return self._decoded[release_id]

    def data(self, release_id: str) -> dict[str, Any]:
        """The snapshot's JSON data (shared: never mutate it)."""
        return self.decoded(release_id).data
