"""Every example and every ```toml block of docs/manifest.md loads."""

import re
from pathlib import Path

import pytest

from mooring.manifest import load_manifest, load_manifest_text
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "examples").glob("*/mooring.toml"))
DOC_BLOCKS = re.findall(r"```toml\n(.*?)```", (REPO / "docs/manifest.md").read_text(), re.S)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2 and len(DOC_BLOCKS) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_validates(path: Path) -> None:
    loaded = load_manifest(path, environ={})
    assert loaded.manifest.service


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[f"block{i}" for i in range(len(DOC_BLOCKS))])
def test_doc_example_loads(block: str, tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("FROM_FILE=1\n")
    load_manifest_text(block, base_dir=tmp_path, environ={"TAG": "v1"})
