"""[notify] of engine.toml: what is accepted, and errors that name the file and the key path."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mooring.engine.notify import notify_events, sign
from mooring.engine.notify_config import NOTIFY_EVENTS, parse_notify
from mooring.errors import UsageError
from mooring.store import Event


def test_a_webhook_gets_every_event_and_the_defaults_unless_told() -> None:
    config = parse_notify({"webhook": [{"url": "https://h.example/x?k=v", "secret": "s"}]}, "engine.toml")
    (hook,) = config.webhooks
    assert hook.events == frozenset(NOTIFY_EVENTS) and hook.apps is None
    assert (hook.timeout, hook.max_attempts, hook.backoff, hook.name) == (5.0, 5, 1.0, "h.example")
    assert hook.view()["url"] == "https://h.example/x"  # no query: it may hold a key
    assert "secret" not in hook.view()


def test_secret_env_reads_the_engines_environment() -> None:
    raw = {"webhook": [{"url": "http://h/x", "secret_env": "HOOK"}], "max_attempts": 2}
    config = parse_notify(raw, "engine.toml", env={"HOOK": "from-env"})
    assert config.webhooks[0].secret == "from-env" and config.webhooks[0].max_attempts == 2
    with pytest.raises(UsageError, match=r"engine.toml: notify.webhook\[0\].secret_env: the variable 'HOOK'"):
        parse_notify(raw, "engine.toml", env={})


@pytest.mark.parametrize(
    ("hook", "where"),
    [
        ({"url": "ftp://h/x", "secret": "s"}, r"notify.webhook\[0\].url: must be an http"),
        ({"url": "http://h/x"}, r"notify.webhook\[0\].secret: needs a non-empty secret"),
        (
            {"url": "http://h/x", "secret": "s", "events": ["release.done"]},
            r"notify.webhook\[0\].events: 'release.done' is not a notify",
        ),
        ({"url": "http://h/x", "secret": "s", "backoff": "soon"}, r"notify.webhook\[0\].backoff: 'soon'"),
        (
            {"url": "http://h/x", "secret": "s", "max_attempts": 0},
            r"notify.webhook\[0\].max_attempts: must be an integer",
        ),
        ({"url": "http://h/x", "secret": "s", "retries": 3}, r"notify.webhook\[0\].retries: unknown key"),
    ],
)
def test_errors_name_the_file_and_key_path(hook: dict, where: str) -> None:
    with pytest.raises(UsageError, match=r"^/etc/m/engine.toml: " + where):
        parse_notify({"webhook": [hook]}, "/etc/m/engine.toml")


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"event": "release.completed"}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", body) == "sha256=" + expected


def test_a_broken_notify_section_stops_the_engine_with_the_key_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "engine.toml").write_text('[[notify.webhook]]\nurl = "ftp://hooks.example"\nsecret = "s"\n')
    env = {**os.environ, "MOORING_HOME": str(home)}
    env.pop("MOORING_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "mooring", "ps"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "the mooring engine exited at start" in result.stderr and "engine.log" in result.stderr
    logged = (home / "engine.log").read_text()
    assert f"{home / 'engine.toml'}: notify.webhook[0].url: must be an http:// or https:// URL" in logged


def event(type: str, **payload: object) -> Event:
    return Event("shop", 1, "r1", 1, type, dict(payload), datetime.now(UTC))


@pytest.mark.parametrize(
    ("recorded", "told"),
    [
        (event("release.completed", status="completed", previous="in_progress"), ["release.completed"]),
        (event("release.rolled_back", status="rolled_back"), ["release.rolled_back"]),
        (event("release.superseded", by="r2"), ["release.superseded"]),
        # a failure that pauses: its outcome first, the pause for a webhook that wants only pauses
        (
            event("release.paused", status="failed", previous="in_progress"),
            ["release.failed", "release.paused"],
        ),
        (
            event("release.paused", status="partially_failed", previous="in_progress"),
            ["release.partially_failed", "release.paused"],
        ),
        (event("release.paused", status="in_progress", message="paused by the operator"), ["release.paused"]),
        (event("release.rolling_back", why="canary failed"), ["release.rolling_back"]),
        (event("cron.finished", cron="c", outcome="timed_out"), ["cron.failed"]),
        (event("cron.finished", cron="c", outcome="succeeded"), []),
        (event("node.down", node="n2"), ["node.down"]),
        (event("target.ready", state="ready"), []),
    ],
)
def test_which_events_are_told(recorded: Event, told: list[str]) -> None:
    assert notify_events(recorded) == told
    assert all(t in NOTIFY_EVENTS for t in told)
