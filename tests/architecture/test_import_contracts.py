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


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "src" / "mooring", src / "mooring", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def plant(src: Path, module: str, line: str) -> Path:
    """A copy of the tree with ``line`` appended to ``module`` (a path under mooring/)."""
    planted = src.parent / f"planted-{module.replace('/', '-')}"
    shutil.copytree(src, planted)
    with (planted / "mooring" / module).open("a") as f:
        f.write("\n" + line + "\n")
    return planted


def test_the_tree_keeps_every_contract(package_copy: Path) -> None:
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "breach"),
    [
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
    ],
)
def test_a_breach_fails_lint(package_copy: Path, module: str, line: str, breach: str) -> None:
    result = lint_imports(plant(package_copy, module, line))
    assert result.returncode != 0, result.stdout
    assert "0 broken" not in result.stdout
    assert breach in result.stdout.split("Broken contracts")[-1], result.stdout
