"""What every engine client shares, whatever carries its requests: timeouts, API errors, decoding.

Two clients implement it: ``LocalClient`` (the local engine's unix socket, standard library only, so
a local command starts in a few milliseconds) and ``EngineClient`` (a remote engine over TCP/TLS,
through httpx). Both answer the same way, fail with the same errors and messages.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from mooring.errors import EngineNotAnswering, MooringError

# How long a remote client keeps trying to reconnect after it lost an engine it had reached.
RECONNECT_WITHIN = 60.0
# How long a call waits for the engine's answer: a frozen engine (SIGSTOP, a VM pause) accepts
# connections on its socket but never answers, and a CLI must not hang on it. A read waits
# READ_TIMEOUT plus any wait it asked the engine for; a change (down, rollout control) STEP_TIMEOUT.
TIMEOUT_ENV = "MOORING_CLIENT_TIMEOUT"
READ_TIMEOUT = 20.0
STEP_TIMEOUT = 300.0
LOCAL_CONNECT_TIMEOUT = 30.0
REMOTE_CONNECT_TIMEOUT = 10.0
LOCAL_UNREACHABLE_HINT = "see the engine log under $MOORING_HOME, or start it with 'mooring serve'"


def read_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get(TIMEOUT_ENV, READ_TIMEOUT)))
    except ValueError:
        return READ_TIMEOUT


def not_answering(where: str, method: str, path: str, within: float) -> EngineNotAnswering:
    """A call got no reply in time: what both clients say of a frozen or overloaded engine."""
    return EngineNotAnswering(
        f"the mooring engine at {where} is not answering: no reply to {method} {path} within {within:.0f}s",
        hint="it may be stopped (SIGSTOP), frozen or overloaded: check its process state and "
        "its log (engine.log under $MOORING_HOME); the wait is set by " + TIMEOUT_ENV,
    )


def _exit_codes() -> dict[str, int]:
    """API error code -> exit code, read off the error tree so the two can never disagree."""
    codes: dict[str, int] = {}
    todo: list[type[MooringError]] = [MooringError]
    while todo:
        cls = todo.pop()
        codes.setdefault(cls.code, cls.exit_code)
        todo.extend(cls.__subclasses__())
    return codes


class ApiError(MooringError):
    """An error answer of the engine, carrying its stable ``code``."""

    def __init__(self, code: str, message: str, hint: str | None, status: int) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status
        self.exit_code = _exit_codes().get(code, 1)


def decode_answer(status: int, content: bytes) -> Any:
    """The JSON body of an answer; an error status becomes the ApiError the body names."""
    try:
        body = json.loads(content)
    except json.JSONDecodeError:
        body = None
    if status >= 400:
        if isinstance(body, dict) and "code" in body:
            raise ApiError(body["code"], body.get("message", ""), body.get("hint"), status)
        raise ApiError("http_error", f"engine answered HTTP {status}", None, status)
    return body


def query_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class Client:
    """The calls a command makes of an engine; subclasses carry them (``request``, ``stream_lines``)."""

    where: str
    # Only a remote client retries: locally a lost engine is a crash to report, not a network hiccup.
    reconnect_within: float = 0.0

    def __init__(self) -> None:
        self.on_reconnect: Callable[[str], None] | None = None
        self._reached = False

    def close(self) -> None:
        """Release the client's connections."""

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        """Lines of a streaming answer (logs -f, events), until the engine closes it."""
        raise NotImplementedError

    def _answer_within(self, method: str, kwargs: dict[str, Any]) -> float:
        """Seconds to wait for this call's answer: the base plus any wait it asks of the engine."""
        params = kwargs.get("params") or {}
        body = kwargs.get("json") if isinstance(kwargs.get("json"), dict) else {}
        asked = 0.0
        for value in (params.get("timeout"), (body or {}).get("wait_lock")):
            with contextlib.suppress(TypeError, ValueError):
                asked += float(value) if value is not None else 0.0
        return (read_timeout() if method == "GET" else STEP_TIMEOUT) + asked

    def _notice(self, text: str) -> None:
        if self.on_reconnect is not None:
            self.on_reconnect(text)

    def notice(self, text: str) -> None:
        """Tell the operator about a lost or regained connection (the log follower reconnects itself)."""
        self._notice(text)

    @property
    def reached(self) -> bool:
        """Whether the engine answered once (only then is a lost connection retried)."""
        return self._reached

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=query_params(params))

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)
