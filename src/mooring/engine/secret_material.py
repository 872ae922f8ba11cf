"""What an instance gets of its secrets when it starts: the env values its snapshot fingerprinted, the
values of the named secret versions it pinned, and its secret files (tmpfs, engine/secret_files.py).

Shared by the release runtime (services, pre-deploy workers) and the one-shot runs (crons, workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mooring.engine.secret_files import write_secret_files
from mooring.engine.specs import runs_on_cluster, secret_files
from mooring.store import Store


class SecretMaterial:
    """Reads the values from the store; writes the files under the engine's ``home``."""

    def __init__(self, store: Store, home: Path) -> None:
        self.store = store
        self.home = home

    def env_values(self, snapshot: dict[str, Any], name: str, kind: str = "service") -> dict[str, str]:
        """Fingerprint -> value of the workload's secret-looking env (manifest/snapshot.py)."""
        refs = [v for v in snapshot[kind][name].get("env", {}).values() if v.startswith("secret:sha256:")]
        return self.store.get_secrets(refs) if refs else {}

    def named(self, app: str, section: dict[str, Any]) -> dict[str, str]:
        """Secret name -> value of the versions a workload's snapshot pinned (engine/secret_pins.py)."""
        return {
            name: self.store.secret_value(app, name, int(ref["version"]))
            for name, ref in (section.get("secrets") or {}).items()
        }

    def __call__(
        self, app: str, snapshot: dict[str, Any], name: str, kind: str, instance_id: str
    ) -> tuple[dict[str, str], dict[str, str], str | None]:
        """(fingerprinted env values, named secret values, the instance's secrets dir or None).

        Writes the instance's secret files when it asks for any.
        """
        section = snapshot[kind][name]
        named = self.named(app, section)
        files = secret_files(section, named)
        folder = None
        if files and not (kind == "service" and runs_on_cluster(snapshot, name)):
            container = bool(section.get("image"))
            folder = str(write_secret_files(self.home, instance_id, files, container))
        return self.env_values(snapshot, name, kind), named, folder
