"""``secrets`` references in the manifest, the warning for secret-looking env, and masking (pure)."""

from __future__ import annotations

import pytest

from mooring.manifest.diff import FieldChange
from mooring.manifest.envfile import parse_env_file
from mooring.manifest.snapshot import build_snapshot
from mooring.masking import Masker
from tests.manifest.helpers import errors_of, load


def test_a_list_of_names_means_env_of_the_same_name_and_a_table_gives_env_and_file() -> None:
    loaded = load(
        """
[service.api]
command = "run"
secrets = { DB_PASSWORD = { env = "DB_PASS", file = "db_password" }, TLS_KEY = { file = "tls.key" } }

[worker.migrate]
command = "migrate"
secrets = ["DB_PASSWORD"]
"""
    )
    data = build_snapshot(loaded.manifest).data
    assert data["service"]["api"]["secrets"] == {
        "DB_PASSWORD": {"env": "DB_PASS", "file": "db_password"},
        "TLS_KEY": {"env": None, "file": "tls.key"},
    }
    assert data["worker"]["migrate"]["secrets"] == {"DB_PASSWORD": {"env": "DB_PASSWORD", "file": None}}


def test_without_secrets_the_snapshot_has_no_secrets_key_so_spec_hashes_stay() -> None:
    data = build_snapshot(load('[service.api]\ncommand = "run"\n').manifest).data
    assert "secrets" not in data["service"]["api"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('secrets = { DB = { file = "../x" } }', "must be a plain file name"),
        ("secrets = { DB = {} }", 'give env = "NAME", file = "name", or both'),
        ('secrets = ["DB", "DB"]', "listed twice"),
        ('secrets = ["DB"]\nenv = { DB = "x" }', "secret DB sets env DB, which env also sets"),
        ('secrets = { A = { env = "X" }, B = { env = "X" } }', "secrets A and B both set env X"),
        ('secrets = ["no spaces"]', "is not a secret name"),
    ],
)
def test_bad_references_name_the_key_and_the_fix(section: str, expected: str) -> None:
    errors = errors_of(f'[service.api]\ncommand = "run"\n{section}\n')
    assert any("service.api" in e and expected in e for e in errors), errors


def test_a_secret_looking_env_value_warns_how_to_move_it_into_the_store() -> None:
    loaded = load('[app]\nname = "shop"\n[service.api]\ncommand = "run"\nenv = { DB_PASSWORD = "hunter2" }\n')
    (warning,) = [w.render() for w in loaded.warnings if "env.DB_PASSWORD" in w.render()]
    assert "mooring secret set DB_PASSWORD --app shop" in warning and "hunter2" not in warning


def test_an_env_file_line_that_does_not_parse_is_not_echoed() -> None:
    with pytest.raises(ValueError) as raised:
        parse_env_file("OK=1\nthis is the-password-itself\n", "app.env")
    assert "app.env: line 2" in str(raised.value) and "the-password-itself" not in str(raised.value)


def test_a_rotation_renders_as_versions() -> None:
    change = FieldChange("service.api.secrets.DB_PASSWORD.version", 2, 3, "changed", True)
    assert change.render() == "~ service.api: secret DB_PASSWORD: v2 -> v3 (restart)"


def test_the_masker_hides_values_raw_and_json_escaped_and_skips_short_ones() -> None:
    masker = Masker()
    masker.add('pa"ss\\word-1')
    masker.add("abc")
    assert masker.mask('said pa"ss\\word-1 twice pa"ss\\word-1') == "said *** twice ***"
    assert masker.mask_bytes(b'{"detail": "pa\\"ss\\\\word-1"}') == b'{"detail": "***"}'
    assert masker.mask_data({"a": ["x abc", 'pa"ss\\word-1']}) == {"a": ["x abc", "***"]}
