"""docs/compose.md's example is what the importer writes and reports for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DOC = (REPO / "docs/compose.md").read_text()


def test_the_documented_example_is_what_the_import_writes(tmp_path: Path) -> None:
    compose = re.search(r"```yaml\n(.*?)```", DOC, re.S)
    toml = re.search(r"writes:\n\n```toml\n(.*?)```", DOC, re.S)
    report = re.search(r"and reports:\n\n```\n(.*?)```", DOC, re.S)
    assert compose and toml and report
    (tmp_path / "compose.yaml").write_text(compose.group(1))
    (tmp_path / "api.env").write_text("SECRET_KEY=abc\n")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    result = subprocess.run(
        [sys.executable, "-m", "mooring", "import", "compose"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mooring.toml").read_text() == toml.group(1)
    assert result.stderr == report.group(1)
