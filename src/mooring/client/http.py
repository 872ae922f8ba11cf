"""A thin synchronous client of the engine API; API errors become MooringErrors with their exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from mooring.client.remote import CA_ENV, TOKEN_ENV, RemoteEngine
from mooring.errors import EngineNotAnswering, EngineUnreachable, MooringError

# How long a remote client keeps trying to reconnect after it lost an engine it had reached.
RECONNECT_WITHIN = 60.0
# How long a call waits for the engine's answer: a frozen engine (SIGSTOP, a VM pause) accepts
# connections on its socket but never answers, and a CLI must not hang on it. A read waits
# READ_TIMEOUT plus any wait it asked the engine for; a change (down, rollout control) STEP_TIMEOUT.
TIMEOUT_ENV = "MOORING_CLIENT_TIMEOUT"
READ_TIMEOUT = 20.0
STEP_TIMEOUT = 300.0


def read_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get(TIMEOUT_ENV, READ_TIMEOUT)))
    except ValueError:
        return READ_TIMEOUT


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


class EngineClient:
    """One connection pool to one engine: the local one on its unix socket, or a remote one over TCP."""

    def __init__(
        self,
        socket_path: Path | None = None,
        *,
        remote: RemoteEngine | None = None,
        reconnect_within: float = RECONNECT_WITHIN,
    ) -> None:
        self.remote = remote
        # Only a remote client retries: locally a lost engine is a crash to report, not a network hiccup.
        self.reconnect_within = reconnect_within if remote else 0.0
        self.on_reconnect: Callable[[str], None] | None = None
        self._reached = False
        # Reads have no timeout (long polls, `logs -f`); connecting has one.
        timeout = httpx.Timeout(10.0 if remote else 30.0, read=None)
        if remote is not None:
            self.where = remote.base_url
            self._http = httpx.Client(
                base_url=remote.base_url,
                transport=remote.transport(),
                headers=remote.headers(),
                timeout=timeout,
            )
        elif socket_path is not None:
            self.where = str(socket_path)
            self._http = httpx.Client(
                base_url="http://mooring",
                # verify=False: no TLS on a unix socket, and loading certifi's CA bundle for nothing
                # cost ~60 ms of every local command (docs/performance.md)
                transport=httpx.HTTPTransport(uds=str(socket_path), verify=False),
                timeout=timeout,
            )
        else:
            raise ValueError("EngineClient needs a socket path or a remote engine")

    def close(self) -> None:
        self._http.close()

    def _answer_within(self, method: str, kwargs: dict[str, Any]) -> float:
        """Seconds to wait for this call's answer: the base plus any wait it asks of the engine."""
        params = kwargs.get("params") or {}
        body = kwargs.get("json") if isinstance(kwargs.get("json"), dict) else {}
        asked = 0.0
        for value in (params.get("timeout"), (body or {}).get("wait_lock")):
            with contextlib.suppress(TypeError, ValueError):
                asked += float(value) if value is not None else 0.0
        return (read_timeout() if method == "GET" else STEP_TIMEOUT) + asked

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        deadline: float | None = None
        within = self._answer_within(method, kwargs)
        kwargs.setdefault("timeout", httpx.Timeout(10.0 if self.remote else 30.0, read=within))
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ReadTimeout:
                raise EngineNotAnswering(
                    f"the mooring engine at {self.where} is not answering: no reply to {method} {path} "
                    f"within {within:.0f}s",
                    hint="it may be stopped (SIGSTOP), frozen or overloaded: check its process state and "
                    "its log (engine.log under $MOORING_HOME); the wait is set by " + TIMEOUT_ENV,
                ) from None
            except httpx.TransportError as exc:
                # A GET is safe to repeat: once the engine answered, a dropped connection (network
                # blip, engine restart) is retried until the deadline, so a long rollout is followed to
                # its end. A POST is not repeated: it may have been applied.
                if not (self._reached and method == "GET" and self.reconnect_within > 0):
                    raise self._unreachable(exc, method) from None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.reconnect_within
                    self._notice(
                        f"lost the engine at {self.where} ({_reason(exc)}); reconnecting "
                        f"(for up to {self.reconnect_within:.0f}s)"
                    )
                if now >= deadline:
                    raise self._unreachable(exc, method, retried=True) from None
                time.sleep(min(0.5, max(0.0, deadline - now)))
                continue
            if deadline is not None:
                self._notice(f"reconnected to the engine at {self.where}")
            self._reached = True
            return self._decode(response)

    def _notice(self, text: str) -> None:
        if self.on_reconnect is not None:
            self.on_reconnect(text)

    notice = _notice  # for the log follower, which reconnects its stream itself

    @property
    def reached(self) -> bool:
        """Whether the engine answered once (only then is a lost connection retried)."""
        return self._reached

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        """Lines of a streaming answer (logs -f, events), until the engine closes it."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=query) as response:
                if response.status_code >= 400:
                    response.read()
                    self._decode(response)
                self._reached = True
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            if not self._reached:
                raise self._unreachable(exc, "GET") from None
            raise EngineUnreachable(f"lost the engine at {self.where}: {_reason(exc)}") from None

    def _unreachable(self, exc: httpx.TransportError, method: str, retried: bool = False) -> MooringError:
        """Why the engine could not be reached, and what to do, for each way that happens."""
        reason = _reason(exc)
        if self.remote is None:
            return EngineUnreachable(
                f"cannot reach the mooring engine at {self.where}: {reason}",
                hint="see the engine log under $MOORING_HOME, or start it with 'mooring serve'",
            )
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            return EngineUnreachable(
                f"the TLS certificate of the engine at {self.where} is not trusted: {reason}",
                hint=f"set {CA_ENV} to the CA (or self-signed) certificate its --tls-cert was issued by",
            )
        if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason:
            return EngineUnreachable(
                f"the engine at {self.where} does not speak TLS ({reason})",
                hint="use --server HOST:PORT without https://, or start it with --tls-cert/--tls-key",
            )
        if retried:
            return EngineUnreachable(
                f"lost the engine at {self.where} and could not reconnect within "
                f"{self.reconnect_within:.0f}s: {reason}",
                hint="check that `mooring serve --listen` still runs there; the release goes on without "
                "you: follow it again with `mooring status --app NAME --server ...`",
            )
        if self._reached or method != "GET":
            return EngineUnreachable(
                f"lost the connection to the engine at {self.where} during {method}: {reason}",
                hint="the request may or may not have taken effect: check with `mooring status` / `mooring ps`",
            )
        plain_to_tls = not self.remote.tls and isinstance(exc, httpx.RemoteProtocolError)
        return EngineUnreachable(
            f"cannot reach the mooring engine at {self.where}: {reason}",
            hint="if the engine serves TLS, use --server https://HOST:PORT"
            if plain_to_tls
            else "check the address (--server or MOORING_SERVER) and that `mooring serve --listen HOST:PORT` "
            "runs there and is reachable from here",
        )

    def _decode(self, response: httpx.Response) -> Any:
        if response.status_code == 401 and self.remote is not None and self.remote.token is None:
            raise ApiError(
                "unauthorized",
                f"{TOKEN_ENV} is not set: the engine at {self.where} needs a bearer token",
                f"create one on the engine's host (`mooring token create --scope write`) and export {TOKEN_ENV}",
                401,
            )
        return _decode(response)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("[Errno 111] ", "").strip()


def _decode(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if response.status_code >= 400:
        if isinstance(body, dict) and "code" in body:
            raise ApiError(body["code"], body.get("message", ""), body.get("hint"), response.status_code)
        raise ApiError(
            "http_error", f"engine answered HTTP {response.status_code}", None, response.status_code
        )
    return body
