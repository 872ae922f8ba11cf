"""The code digest of a process service: what counts, what is ignored, and its bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.manifest.source import Limits, SourceError, digest, ignored, stamp_sources


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_digest_follows_content_names_and_the_executable_bit(tmp_path: Path) -> None:
    tree(tmp_path, {"api.py": "print(1)\n", "lib/util.py": "X = 1\n"})
    first = digest(tmp_path)
    assert first.startswith("sha256:") and digest(tmp_path) == first
    (tmp_path / "lib" / "util.py").write_text("X = 2\n")
    second = digest(tmp_path)
    assert second != first
    (tmp_path / "api.py").chmod(0o755)
    assert digest(tmp_path) != second
    (tmp_path / "lib" / "util.py").rename(tmp_path / "lib" / "other.py")
    assert digest(tmp_path) not in (first, second)


def test_defaults_and_the_ignore_file_leave_out_what_is_not_code(tmp_path: Path) -> None:
    tree(tmp_path, {"api.py": "code\n", ".mooringignore": "data/\n*.csv\n!keep.csv\n/build\n"})
    base = digest(tmp_path)
    tree(
        tmp_path,
        {
            "mooring.toml": "[app]\n",
            "app.log": "x",
            "state.db": "x",
            "__pycache__/api.cpython-311.pyc": "x",
            ".git/HEAD": "x",
            "data/big.bin": "x",
            "sub/report.csv": "x",
            "build/out.o": "x",
            "sub/build/kept.py": "x = 1\n",
        },
    )
    with_kept = digest(tmp_path)
    assert with_kept != base  # sub/build is not /build: it counts
    (tmp_path / "sub" / "build" / "kept.py").unlink()
    assert digest(tmp_path) == base
    (tmp_path / "keep.csv").write_text("re-included")
    assert digest(tmp_path) != base


def test_patterns(tmp_path: Path) -> None:
    assert ignored("a/b/__pycache__", True, ["__pycache__/"])
    assert not ignored("a/__pycache__", False, ["__pycache__/"])  # a file of that name stays
    assert ignored("build/x.o", False, ["/build"]) and not ignored("src/build/x.o", False, ["/build"])
    assert ignored("x.csv", False, ["*.csv"]) and not ignored("keep.csv", False, ["*.csv", "!keep.csv"])


def test_source_globs_replace_the_walk(tmp_path: Path) -> None:
    tree(tmp_path, {"api.py": "code\n", "README.md": "words\n", "templates/a/b.html": "<p>\n"})
    only = digest(tmp_path, ["*.py", "templates/**"])
    (tmp_path / "README.md").write_text("other words\n")
    assert digest(tmp_path, ["*.py", "templates/**"]) == only
    (tmp_path / "templates" / "a" / "b.html").write_text("<div>\n")
    assert digest(tmp_path, ["*.py", "templates/**"]) != only


def test_bounds_fail_naming_the_service_and_what_to_do(tmp_path: Path) -> None:
    tree(tmp_path, {f"f{i}.txt": "x" for i in range(5)})
    with pytest.raises(SourceError, match="more than 3 files"):
        digest(tmp_path, limits=Limits(files=3))
    with pytest.raises(SourceError, match="MiB of files"):
        digest(tmp_path, limits=Limits(bytes=2))
    snapshot = {"service": {"api": {"driver": "process", "working_dir": str(tmp_path)}}}
    with pytest.raises(SourceError, match=r"service\.api: working_dir .*more than 3 files.*\.mooringignore"):
        stamp_sources(snapshot, Limits(files=3))


def test_stamping_touches_process_services_only_and_skips_env_files(tmp_path: Path) -> None:
    tree(tmp_path, {"api.py": "code\n", "app.env": "A=1\n"})
    snapshot = {
        "format": 1,
        "service": {
            "api": {"driver": "process", "working_dir": str(tmp_path), "env_file": ["app.env"]},
            "db": {"driver": "container", "image": "postgres:15"},
            "gone": {"driver": "process", "working_dir": str(tmp_path / "nowhere")},
        },
    }
    stamped = stamp_sources(snapshot)
    assert "source" not in snapshot["service"]["api"]  # a copy: the input is left as it was
    assert stamped["service"]["api"]["source"].startswith("sha256:")
    assert "source" not in stamped["service"]["db"] and "source" not in stamped["service"]["gone"]
    before = stamped["service"]["api"]["source"]
    (tmp_path / "app.env").write_text("A=2\n")  # its values reach env, diffed field by field
    assert stamp_sources(snapshot)["service"]["api"]["source"] == before
