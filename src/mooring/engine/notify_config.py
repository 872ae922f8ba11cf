"""``[notify]`` of ``$MOORING_HOME/engine.toml``: where the engine sends signed webhooks (docs/notify.md).

```toml
[[notify.webhook]]
url = "https://hooks.example.com/mooring"
secret_env = "MOORING_WEBHOOK_SECRET"   # or secret = "..."
events = ["release.failed", "release.rolled_back"]   # default: every notify event
```

Every error names the file and the key path, as the manifest's do.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mooring.engine.outcomes import FINAL_EVENTS
from mooring.errors import UsageError
from mooring.manifest.durations import parse_duration

ENGINE_CONFIG = "engine.toml"

# What a webhook may ask for. Final statuses, the operator's pause, the start of an automatic rollback,
# a cron run that did not succeed, a cluster node that went down.
NOTIFY_EVENTS = (*FINAL_EVENTS, "release.paused", "release.rolling_back", "cron.failed", "node.down")
WEBHOOK_KEYS = {"name", "url", "secret", "secret_env", "events", "apps", "timeout", "max_attempts", "backoff"}
NOTIFY_KEYS = {"webhook", "timeout", "max_attempts", "backoff", "queue"}


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    secret: str
    events: frozenset[str]
    apps: frozenset[str] | None  # None: every app
    timeout: float
    max_attempts: int
    backoff: float  # first retry after this many seconds, doubling, capped at MAX_BACKOFF

    def wants(self, event: str, app: str) -> bool:
        return event in self.events and (self.apps is None or app in self.apps)

    def view(self) -> dict[str, Any]:
        """Safe to show: never the secret, and the URL without credentials or query."""
        return {
            "name": self.name,
            "url": redact_url(self.url),
            "events": sorted(self.events),
            "apps": sorted(self.apps) if self.apps is not None else None,
            "max_attempts": self.max_attempts,
        }


@dataclass(frozen=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...] = ()
    queue: int = 1000


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def load_notify(home: Path) -> NotifyConfig:
    """The ``[notify]`` section of ``home/engine.toml``; an empty config without the file or section."""
    path = home / ENGINE_CONFIG
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return NotifyConfig()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path}: cannot read it: {exc}", hint="fix the TOML, then start the engine"
        ) from None
    section = data.get("notify")
    if section is None:
        return NotifyConfig()
    return parse_notify(section, str(path))


def _fail(where: str, key: str, message: str) -> UsageError:
    return UsageError(f"{where}: {key}: {message}", hint="see docs/notify.md for the [notify] keys")


def parse_notify(section: Any, where: str, env: dict[str, str] | None = None) -> NotifyConfig:
    env = dict(os.environ) if env is None else env
    if not isinstance(section, dict):
        raise _fail(where, "notify", "must be a table")
    unknown = set(section) - NOTIFY_KEYS
    if unknown:
        raise _fail(
            where, f"notify.{sorted(unknown)[0]}", f"unknown key; known: {', '.join(sorted(NOTIFY_KEYS))}"
        )
    defaults = {k: section[k] for k in ("timeout", "max_attempts", "backoff") if k in section}
    queue = section.get("queue", 1000)
    if not isinstance(queue, int) or isinstance(queue, bool) or queue < 1:
        raise _fail(where, "notify.queue", "must be an integer >= 1")
    hooks = section.get("webhook", [])
    if isinstance(hooks, dict):
        hooks = [hooks]
    if not isinstance(hooks, list):
        raise _fail(where, "notify.webhook", "must be an array of tables ([[notify.webhook]])")
    webhooks = [_webhook(h, f"notify.webhook[{i}]", where, defaults, env) for i, h in enumerate(hooks)]
    names = [w.name for w in webhooks]
    for name in names:
        if names.count(name) > 1:
            raise _fail(where, "notify.webhook", f"two webhooks are named {name!r}; give each a unique name")
    return NotifyConfig(tuple(webhooks), queue)


def _webhook(raw: Any, key: str, where: str, defaults: dict[str, Any], env: dict[str, str]) -> Webhook:
    if not isinstance(raw, dict):
        raise _fail(where, key, "must be a table")
    unknown = set(raw) - WEBHOOK_KEYS
    if unknown:
        raise _fail(
            where, f"{key}.{sorted(unknown)[0]}", f"unknown key; known: {', '.join(sorted(WEBHOOK_KEYS))}"
        )
    url = raw.get("url")
    if (
        not isinstance(url, str)
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).hostname
    ):
        raise _fail(where, f"{key}.url", "must be an http:// or https:// URL")
    secret = raw.get("secret")
    if "secret_env" in raw:
        name = raw["secret_env"]
        if not isinstance(name, str) or not env.get(name):
            raise _fail(
                where, f"{key}.secret_env", f"the variable {name!r} is not set in the engine's environment"
            )
        secret = env[name]
    if not isinstance(secret, str) or not secret:
        raise _fail(where, f"{key}.secret", "needs a non-empty secret (or secret_env) to sign the deliveries")
    events = raw.get("events", list(NOTIFY_EVENTS))
    if not isinstance(events, list) or not events:
        raise _fail(where, f"{key}.events", "must be a non-empty list of event names")
    for e in events:
        if e not in NOTIFY_EVENTS:
            raise _fail(
                where, f"{key}.events", f"{e!r} is not a notify event; known: {', '.join(NOTIFY_EVENTS)}"
            )
    apps = raw.get("apps")
    if apps is not None and (not isinstance(apps, list) or not all(isinstance(a, str) for a in apps)):
        raise _fail(where, f"{key}.apps", "must be a list of app names")
    merged = {**defaults, **raw}
    timeout = _duration(merged.get("timeout", "5s"), f"{key}.timeout", where)
    backoff = _duration(merged.get("backoff", "1s"), f"{key}.backoff", where)
    attempts = merged.get("max_attempts", 5)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 50:
        raise _fail(where, f"{key}.max_attempts", "must be an integer from 1 to 50")
    name = raw.get("name") or urlsplit(url).hostname or url
    return Webhook(
        name=str(name),
        url=url,
        secret=secret,
        events=frozenset(events),
        apps=frozenset(apps) if apps is not None else None,
        timeout=timeout,
        max_attempts=attempts,
        backoff=backoff,
    )


def _duration(value: Any, key: str, where: str) -> float:
    try:
        seconds = parse_duration(value) if isinstance(value, str) else None
    except ValueError as exc:
        raise _fail(where, key, str(exc)) from None
    if seconds is None or seconds <= 0:
        raise _fail(where, key, 'must be a positive duration such as "500ms" or "5s"')
    return seconds
