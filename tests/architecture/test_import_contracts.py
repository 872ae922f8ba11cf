"""The layer contracts of .importlinter (run by `make lint`) hold on the code and catch a breach.

Each breach is planted in a copy of the package, so the real tree is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", str(CONTRACTS)],
        cwd=src,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "mooring", src / "mooring", ignore=shutil.ignore_patterns("__pycache__"))
    return src


BREACHES = [
    # the engine importing the API: the upward arrow the composition root removed
    ("engine/core.py", "import mooring.api.app", "mooring.engine.core -> mooring.api.app"),
    # the CLI reaching the store from inside a function
    (
        "cli/app_cmds.py",
        "def _f():\n    from mooring.store import open_store",
        "mooring.cli is not allowed to import mooring.store",
    ),
    # the API reading the store instead of asking the engine, even only for a type
    (
        "api/app.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mooring.store.releases import Release",
        "mooring.api is not allowed to import mooring.store",
    ),
    (
        "release/plan.py",
        "import mooring.runtime.spec",
        "mooring.release is not allowed to import mooring.runtime",
    ),
    (
        "store/db.py",
        "import mooring.manifest.models",
        "mooring.store is not allowed to import mooring.manifest",
    ),
    # a collaborator of the engine given the whole Engine again (a service locator), even as a type
    (
        "engine/schedules.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mooring.engine.core import Engine",
        "mooring.engine.schedules is not allowed to import mooring.engine.core",
    ),
]


def test_the_tree_keeps_every_contract(package_copy: Path) -> None:
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_each_planted_breach_fails_lint(package_copy: Path) -> None:
    """One copy with every breach planted, one lint run: each breach is reported."""
    for module, line, _ in BREACHES:
        with (package_copy / "mooring" / module).open("a") as f:
            f.write("\n" + line + "\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0, result.stdout
    assert "0 broken" not in result.stdout
    report = result.stdout.split("Broken contracts")[-1]
    missed = [breach for _, _, breach in BREACHES if breach not in report]
    assert not missed, result.stdout
