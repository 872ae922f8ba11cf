"""The last bad inputs of issue 17: each gets a clear error at `mooring validate`, never a hang or a leak."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "root:$y$j9T$very-secret-hash:19000:0:99999:7:::"


def validate(directory: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """`mooring validate` as a user runs it; a hang fails the test at ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "mooring", "validate", "-f", str(directory / "mooring.toml")],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MOORING_HOME": str(directory / "home")},
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('command = ["python3", "-c", "print(1)\\u0000"]\n', "service.web.command[2]"),
        ('command = "sleep 1"\nenv = { A = "x\\u0000y" }\n', "service.web.env.A"),
        ('command = "sleep\\u0000 1"\n', "service.web.command"),
    ],
)
def test_nul_bytes_are_refused_at_validate(tmp_path: Path, body: str, where: str) -> None:
    (tmp_path / "mooring.toml").write_text("[service.web]\n" + body)
    result = validate(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"mooring.toml: {where}: contains a NUL byte" in result.stderr


def test_a_fifo_as_env_file_is_refused_without_opening_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "app.env")
    (tmp_path / "mooring.toml").write_text('[service.web]\ncommand = "sleep 1"\nenv_file = "app.env"\n')
    result = validate(tmp_path)  # before: blocked forever in open()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "service.web.env_file" in result.stderr
    assert "is a FIFO (named pipe), not a regular file" in result.stderr


def test_a_directory_or_device_as_env_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mooring.toml").write_text(
        '[service.web]\ncommand = "sleep 1"\nenv_file = ["/dev/zero", "."]\n'
    )
    result = validate(tmp_path)
    assert result.returncode == 2
    assert "is a character device, not a regular file" in result.stderr
    assert "is a directory, not a regular file" in result.stderr


def test_env_file_parse_errors_name_the_line_not_its_content(tmp_path: Path) -> None:
    (tmp_path / "shadow").write_text(f"# a comment\nOK=1\n{SECRET}\n")
    (tmp_path / "quote.env").write_text(f'A=1\nB="{SECRET}\n')
    (tmp_path / "mooring.toml").write_text(
        '[service.web]\ncommand = "sleep 1"\nenv_file = ["shadow", "quote.env"]\n'
    )
    result = validate(tmp_path)
    assert result.returncode == 2
    assert "shadow: line 3 is not KEY=VALUE" in result.stderr
    assert "quote.env: line 2" in result.stderr
    assert "very-secret-hash" not in result.stdout + result.stderr
    assert "root:" not in result.stdout + result.stderr


def test_nul_in_an_env_file_value_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_bytes(b"A=1\nB=x\x00y\n")
    (tmp_path / "mooring.toml").write_text('[service.web]\ncommand = "sleep 1"\nenv_file = "a.env"\n')
    result = validate(tmp_path)
    assert result.returncode == 2
    assert "a.env: line 2: the value of B contains a NUL byte" in result.stderr
