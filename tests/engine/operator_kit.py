"""Drive the operator CLI as a user would, and check its JSON against the schemas shipped in docs/.

``OperatorCli.reach`` holds the arguments that say how to reach the engine (empty: the local engine
over its unix socket); a remote variant only has to set it (e.g. ``["--server", "127.0.0.1:7700"]``)
and the token in ``env``.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.engine.conftest import Mooring

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
OUTCOME_LINE = re.compile(
    r"^release (?P<id>[0-9a-f]{12}) (?P<status>[a-z_]+): (?P<message>.+) "
    r"\((?P<ready>\d+) ready, (?P<failed>\d+) failed, (?P<unchanged>\d+) unchanged\)$"
)


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def check_schema(name: str, document: Any) -> Any:
    """Validate ``document`` against docs/schemas/``name``; returns it for chaining."""
    jsonschema.validate(document, schema(name), cls=jsonschema.Draft202012Validator)
    return document


@dataclass
class OperatorCli:
    mooring: Mooring
    reach: list[str] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        saved = dict(self.mooring.env)
        self.mooring.env.update(env)
        try:
            return self.mooring.run(*args, *self.reach, timeout=timeout)
        finally:
            self.mooring.env.clear()
            self.mooring.env.update(saved)

    def ok(self, *args: str, **env: str) -> str:
        result = self.run(*args, **env)
        assert result.returncode == 0, (
            f"mooring {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout

    def json(self, schema_name: str | None, *args: str, code: int = 0, **env: str) -> Any:
        result = self.run(*args, "--json", **env)
        assert result.returncode == code, (
            f"mooring {' '.join(args)} --json exited {result.returncode}, wanted {code}:\n{result.stdout}\n{result.stderr}"
        )
        document = json.loads(result.stdout)
        return check_schema(schema_name, document) if schema_name else document


def outcome(stdout: str) -> re.Match[str]:
    """The outcome line, which must be the last line."""
    last = stdout.rstrip("\n").splitlines()[-1]
    found = OUTCOME_LINE.match(last)
    assert found, f"the last line is not an outcome line: {last!r}\n{stdout}"
    return found
