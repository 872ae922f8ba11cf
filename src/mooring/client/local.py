"""The client of the local engine: HTTP/1.1 over its unix socket, with the standard library only.

Every local command goes through here, so its start-up is the CLI's: httpx (with httpcore, and
trio or anyio where installed) cost ~100 ms to import and ~60 ms to build a client, and even
``http.client`` imports the ``email`` package (~10 ms). The peer is our own engine (uvicorn), on
a socket only this user can open: requests are plain, answers are framed by Content-Length or
chunked, and that is all this speaks. Remote engines keep httpx (client/http.py).
"""

from __future__ import annotations

import codecs
import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mooring.client.base import (
    LOCAL_CONNECT_TIMEOUT,
    LOCAL_UNREACHABLE_HINT,
    Client,
    decode_answer,
    not_answering,
    query_params,
)
from mooring.errors import EngineUnreachable

MAX_LINE = 64 * 1024  # a status line, header or chunk size line longer than this is not our engine
READ_SIZE = 64 * 1024
# What an answer cut short says, worded as httpx words it so a message reads the same either way.
DISCONNECTED = "Server disconnected without sending a response."
INCOMPLETE = "peer closed connection without sending complete message body"
# str.splitlines' line boundaries: a streamed line ends at any of them, as httpx's iter_lines does.
NEWLINES = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
PATH_SAFE = "/!$&'()*+,;=:@%-._~"


class _Cut(Exception):
    """The connection ended or failed mid-answer; ``str`` is the reason shown to the operator."""


class _Answer:
    """One answer on one connection: status, headers, and a reader of its body."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        head = conn.readline()
        if not head:
            raise _Cut(DISCONNECTED)
        parts = head.split(None, 2)
        try:
            self.status = int(parts[1])
        except (IndexError, ValueError):
            raise _Cut(f"not an HTTP answer: {head[:80]!r}") from None
        self.headers: dict[str, str] = {}
        while True:
            line = conn.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise _Cut(DISCONNECTED)
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self.length = int(length) if length is not None and not self.chunked else None
        if self.status in (204, 304) or 100 <= self.status < 200:
            self.length = 0
        # Without a length or chunks the body runs to the end of the connection.
        self.reusable = (self.chunked or self.length is not None) and self.headers.get(
            "connection", ""
        ).lower() != "close"

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives (a streamed answer yields each chunk when the engine sends it)."""
        conn = self.conn
        if self.chunked:
            while True:
                size_line = conn.readline()
                if not size_line:
                    raise _Cut(INCOMPLETE)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _Cut(f"bad chunk size {size_line[:40]!r}") from None
                if size == 0:
                    while conn.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers: none that matter here
                    return
                data = conn.read(size)
                if len(data) < size or conn.readline() not in (b"\r\n", b"\n"):
                    raise _Cut(INCOMPLETE)
                yield data
        elif self.length is not None:
            left = self.length
            while left > 0:
                data = conn.read1(min(left, READ_SIZE))
                if not data:
                    raise _Cut(INCOMPLETE)
                left -= len(data)
                yield data
        else:
            while data := conn.read1(READ_SIZE):
                yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def charset(self) -> str:
        """The charset the Content-Type names (if Python knows it), else UTF-8, as httpx decides."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "charset":
                try:
                    return codecs.lookup(value.strip().strip("'\"")).name
                except LookupError:
                    break
        return "utf-8"


class _Connection:
    """A socket to the engine and its buffered reader."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(LOCAL_CONNECT_TIMEOUT)
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.file = self.sock.makefile("rb")

    def readline(self) -> bytes:
        line: bytes = self.file.readline(MAX_LINE)
        return line

    def read(self, size: int) -> bytes:
        data: bytes = self.file.read(size)
        return data

    def read1(self, size: int) -> bytes:
        data: bytes = self.file.read1(size)
        return data

    def idle_and_open(self) -> bool:
        """Whether a kept-alive connection can take a request: nothing to read (readable with
        nothing buffered means the engine closed it, e.g. its keep-alive timeout)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class LocalClient(Client):
    """The local engine on its unix socket: one kept-alive connection, plus one per open stream."""

    def __init__(self, socket_path: Path | str) -> None:
        super().__init__()
        self.where = str(socket_path)
        self._idle: _Connection | None = None

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    def _take(self) -> _Connection:
        conn, self._idle = self._idle, None
        if conn is not None and conn.idle_and_open():
            return conn
        if conn is not None:
            conn.close()
        try:
            return _Connection(self.where)
        except OSError as exc:
            raise self._unreachable(_reason(exc)) from None

    def _give_back(self, conn: _Connection) -> None:
        if self._idle is None:
            self._idle = conn
        else:
            conn.close()

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, body: Any, timeout: float | None
    ) -> tuple[_Connection, _Answer]:
        """Send one request and read the head of its answer (``timeout`` None: wait as long as it takes)."""
        content = b""
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        head = [
            f"{method} {_target(path, params)} HTTP/1.1",
            "Host: mooring",
            "Accept: */*",
            "Accept-Encoding: identity",
            "User-Agent: mooring-cli",
        ]
        if body is not None:
            head.append("Content-Type: application/json")
        if body is not None or method not in ("GET", "HEAD", "DELETE"):
            head.append(f"Content-Length: {len(content)}")
        conn = self._take()
        try:
            conn.sock.settimeout(timeout)
            conn.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + content)
            return conn, _Answer(conn)
        except BaseException:
            conn.close()
            raise

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        within = self._answer_within(method, kwargs)
        try:
            conn, answer = self._send(method, path, kwargs.get("params"), kwargs.get("json"), within)
            try:
                content = answer.read()
            except BaseException:
                conn.close()
                raise
        except TimeoutError:
            raise not_answering(self.where, method, path, within) from None
        except _Cut as exc:
            raise self._unreachable(str(exc)) from None
        except OSError as exc:
            raise self._unreachable(_reason(exc)) from None
        if answer.reusable:
            self._give_back(conn)
        else:
            conn.close()
        self._reached = True
        return decode_answer(answer.status, content)

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        """Lines of a streaming answer (logs -f, events), until the engine closes it."""
        conn: _Connection | None = None
        finished = False
        try:
            conn, answer = self._send("GET", path, query_params(params), None, None)
            if answer.status >= 400:
                decode_answer(answer.status, answer.read())
            self._reached = True
            yield from _lines(answer.chunks(), answer.charset())
            finished = answer.reusable
        except (_Cut, OSError) as exc:
            reason = str(exc) if isinstance(exc, _Cut) else _reason(exc)
            if not self._reached:
                raise self._unreachable(reason) from None
            raise EngineUnreachable(f"lost the engine at {self.where}: {reason}") from None
        finally:
            if conn is not None and finished:
                self._give_back(conn)
            elif conn is not None:
                conn.close()  # a stream left early (the caller stopped reading) cannot take another request

    def _unreachable(self, reason: str) -> EngineUnreachable:
        return EngineUnreachable(
            f"cannot reach the mooring engine at {self.where}: {reason}", hint=LOCAL_UNREACHABLE_HINT
        )


def _reason(exc: OSError) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("[Errno 111] ", "").strip()


def _target(path: str, params: dict[str, Any] | None) -> str:
    """The request target: the path percent-encoded where it must be, and the query."""
    path, mark, query = path.partition("?")  # a query written into the path is kept, as httpx keeps it
    target = quote(path, safe=PATH_SAFE) + (mark + quote(query, safe=PATH_SAFE + "?") if mark else "")
    if params:
        target += ("&" if mark else "?") + "&".join(
            f"{quote(str(k), safe='')}={quote(_text(v), safe='')}" for k, v in params.items()
        )
    return target


def _text(value: Any) -> str:
    """A query value as httpx writes it: booleans in lower case, None empty."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _lines(chunks: Iterator[bytes], charset: str) -> Iterator[str]:
    """Decoded lines split as ``str.splitlines`` splits them, across chunk boundaries.

    A trailing ``\\r`` is held back until the next chunk says whether a ``\\n`` follows it.
    """
    decoder = codecs.getincrementaldecoder(charset)(errors="replace")
    pending = ""  # text after the last line boundary seen
    for chunk in chunks:
        text = pending + decoder.decode(chunk)
        pending = ""
        if text.endswith("\r"):
            text, pending = text[:-1], "\r"
        if not text:
            continue
        lines = text.splitlines()
        if text[-1] not in NEWLINES:
            pending = lines.pop() + pending if lines else pending
        yield from lines
    rest = pending + decoder.decode(b"", final=True)
    if rest:
        yield from rest.splitlines() or [""]
