"""TLS on the edge's HTTPS listener: certificates from files and over ACME, renewed ahead of expiry.

A renewed certificate replaces the old one in the running HAProxy through the runtime API
(``set ssl cert`` then ``commit ssl cert``): no reload, no connection touched. A host's first
certificate is a new entry of the crt-list, which a hitless reload brings in. An ACME failure
changes nothing that serves: the old certificate (or the self-signed fallback, and plain HTTP
without redirect) stays, and the host's status carries the error until an attempt succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mooring.network.acme_issuer import AcmeError, AcmeIssuer, AcmeSettings
from mooring.network.certificates import FALLBACK, CertStore, now
from mooring.network.http_routes import HttpRule
from mooring.network.mappings import PublishError
from mooring.network.runtime_api import RuntimeApi, RuntimeApiError

log = logging.getLogger("mooring.network")


class EdgeTls:
    """The certificates of every route with ``tls``; the ACME loop that issues and renews them."""

    def __init__(self, home: Path, api: RuntimeApi, changed: Callable[[], None]) -> None:
        self.home = home
        self.store = CertStore(home)
        self.api = api
        self.changed = changed  # a host got its first certificate: the crt-list grows (a reload)
        self.challenges = home / "haproxy" / "acme.map"
        self.rules: list[HttpRule] = []
        self._settings: AcmeSettings | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failed_at: dict[str, float] = {}

    @property
    def settings(self) -> AcmeSettings:
        if self._settings is None:
            self._settings = AcmeSettings.load(self.home)
        return self._settings

    @property
    def fallback(self) -> Path:
        return self.store.dir / FALLBACK

    def prepare(self) -> None:
        """The files HAProxy's config names exist before it reads them."""
        self.store.prepare()
        if not self.challenges.exists():
            self.challenges.parent.mkdir(parents=True, exist_ok=True)
            self.challenges.write_text("")

    def files(self) -> tuple[Path, Path, Path]:
        """What HAProxy's config names: the challenge map, the fallback certificate, the crt-list."""
        return self.challenges, self.fallback, self.store.crt_list

    def ready(self) -> set[str]:
        """Hosts whose certificate is on disk (an HTTPS redirect only for those)."""
        return {r.host for r in self.rules if r.tls and self.store.has(r.host)}

    def use(self, rules: list[HttpRule]) -> None:
        """The routes now served: certificates from files are installed at once, ACME ones woken."""
        for rule in rules:
            if rule.tls == "files" and rule.cert and rule.key:
                self._install_files(rule)
        self.rules = rules
        self._wake.set()  # a new ACME host is tried at once (the loop runs once HAProxy serves)

    def _install_files(self, rule: HttpRule) -> None:
        assert rule.cert is not None and rule.key is not None
        where = f"service.{rule.service}.route tls (app {rule.app}, host {rule.host})"
        try:
            chain, key = Path(rule.cert).read_bytes(), Path(rule.key).read_bytes()
        except OSError as exc:
            raise PublishError(
                f"{where}: cannot read {exc.filename}: {exc.strerror}; the engine reads it on its own host"
            ) from None
        current = self.store.path(rule.host)
        wanted = chain.strip() + b"\n" + key.strip() + b"\n"
        if current.exists() and current.read_bytes() == wanted:
            return
        try:
            pem = self.store.install(rule.host, chain, key, "files")
        except PublishError as exc:
            raise PublishError(f"{where}: {exc} ({rule.cert}, {rule.key})") from None
        self._swap_later(rule.host, pem)

    def _swap_later(self, host: str, pem: bytes) -> None:
        with contextlib.suppress(RuntimeError):  # no loop: the next start reads the file
            asyncio.get_running_loop().create_task(self.swap(host, pem))

    async def swap(self, host: str, pem: bytes) -> None:
        """Put a renewed certificate in the running HAProxy; a host new to it takes a reload."""
        path = self.store.path(host)
        try:
            answer = await self.api.command(f"set ssl cert {path} <<\n{pem.decode().strip()}\n")
            if "Transaction" not in answer:
                self.changed()  # not loaded yet: the crt-list gains it at the reload
                return
            answer = await self.api.command(f"commit ssl cert {path}")
            if "Success" not in answer:
                raise RuntimeApiError(answer.strip())
            log.info("certificate of %s replaced in HAProxy without a reload", host)
        except RuntimeApiError as exc:
            log.error("certificate of %s: %s; reloading HAProxy to load it", host, exc)
            with contextlib.suppress(RuntimeApiError):
                await self.api.command(f"abort ssl cert {path}")
            self.changed()

    async def answer(self, token: str, validation: str | None) -> None:
        """An HTTP-01 challenge's answer in (or out of) the map the HTTP frontend serves from."""
        await self.api.command(f"del map {self.challenges} {token}")
        if validation is not None:
            answer = await self.api.command(f"add map {self.challenges} {token} {validation}")
            if answer.strip():
                raise AcmeError(f"HAProxy refused the challenge answer: {answer.strip()}")

    # --- the ACME loop ------------------------------------------------------------------------

    def serving(self) -> None:
        """HAProxy runs the current config: challenges can be answered, the loop may run."""
        if any(r.tls == "acme" for r in self.rules) and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="acme")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                settings = self.settings
            except ValueError as exc:
                log.error("ACME: %s", exc)
                for host in self._acme_hosts():
                    self.store.failed(host, "acme", str(exc))
                return
            ok = [await self._renew_if_due(host, settings) for host in self._acme_hosts()]
            pause = settings.check_every if all(ok) else min(settings.check_every, settings.retry_after)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    def _acme_hosts(self) -> list[str]:
        return sorted({r.host for r in self.rules if r.tls == "acme"})

    async def _renew_if_due(self, host: str, settings: AcmeSettings) -> bool:
        """False when an attempt failed (or waits to be retried)."""
        expiry = self.store.not_after(host)
        if expiry is not None and (expiry - now()).total_seconds() > settings.renew_before:
            return True
        loop = asyncio.get_running_loop()
        failed = self._failed_at.get(host)
        if failed is not None and loop.time() - failed < settings.retry_after:
            return False
        issuer = AcmeIssuer(self.store.dir, settings, self.answer)
        log.info(
            "ACME: %s a certificate for %s from %s",
            "renewing" if expiry else "requesting",
            host,
            settings.directory,
        )
        try:
            chain, key = await issuer.issue(host)
            pem = self.store.install(host, chain, key, "acme")
        except (AcmeError, PublishError) as exc:
            self._failed_at[host] = loop.time()
            self.store.failed(host, "acme", str(exc))
            log.error("ACME: no certificate for %s: %s (the route serves on as it did)", host, exc)
            return False
        self._failed_at.pop(host, None)
        await self.swap(host, pem)
        return True

    # --- views --------------------------------------------------------------------------------

    def status(self, host: str) -> dict[str, Any] | None:
        rule = next((r for r in self.rules if r.host == host and r.tls), None)
        if rule is None:
            return None
        return self.store.status(host, "acme" if rule.tls == "acme" else "files").to_dict()

    def view(self) -> list[dict[str, Any]]:
        return [s for h in sorted({r.host for r in self.rules if r.tls}) if (s := self.status(h))]
