"""Certificates over ACME (RFC 8555) HTTP-01, with the ``acme`` library (Certbot's client).

The edge answers the challenges itself: a token and its key authorization go into a HAProxy map
through the runtime API, and the shared HTTP frontend returns them for
``/.well-known/acme-challenge/TOKEN`` (no reload, no extra listener). The account key is kept
under ``$MOORING_HOME/certs`` (0600), one account per directory URL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mooring.network.certificates import new_key_pem, write_private

if TYPE_CHECKING:
    from acme import client

# The acme package (with josepy, pyOpenSSL and requests, ~7.5 MiB resident) is imported on the first
# issuance: an engine without ACME routes never loads it.

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
Challenge = Callable[[str, str | None], Awaitable[None]]  # (token, key authorization | None: remove)


class AcmeError(Exception):
    """An ACME exchange failed; the message is what the status shows as ``last_error``."""


def seconds(text: str, what: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{what} = {text!r} is not a duration such as 30d, 12h or 90s")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class AcmeSettings:
    """``[acme]`` of ``$MOORING_HOME/engine.toml``, each overridden by its ``MOORING_ACME_*`` variable."""

    directory: str = LETS_ENCRYPT
    email: str | None = None
    ca_bundle: str | None = None  # a private ACME server's CA (a test server): a PEM file
    renew_before: float = 30 * 86400.0  # renew this long before expiry
    check_every: float = 3600.0  # how often expiry is checked
    retry_after: float = 600.0  # after a failed attempt

    @classmethod
    def load(cls, home: Path) -> AcmeSettings:
        config: dict[str, Any] = {}
        path = home / "engine.toml"
        try:
            config = tomllib.loads(path.read_text()).get("acme", {})
        except FileNotFoundError:
            pass
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read it: {exc}") from None

        def value(key: str) -> Any:
            return os.environ.get(f"MOORING_ACME_{key.upper()}") or config.get(key)

        kwargs: dict[str, Any] = {}
        for key in ("directory", "email", "ca_bundle"):
            if value(key):
                kwargs[key] = str(value(key))
        for key in ("renew_before", "check_every", "retry_after"):
            if value(key):
                kwargs[key] = seconds(str(value(key)), f"acme.{key}")
        return cls(**kwargs)


class AcmeIssuer:
    """Issues one certificate at a time for a hostname; ``answer`` puts challenge answers in place."""

    def __init__(self, certs_dir: Path, settings: AcmeSettings, answer: Challenge) -> None:
        self.dir = certs_dir
        self.settings = settings
        self.answer = answer
        self._lock = asyncio.Lock()

    async def issue(self, host: str) -> tuple[bytes, bytes]:
        """(full chain PEM, key PEM) for ``host``; AcmeError says why not."""
        from acme import errors, messages

        async with self._lock:
            try:
                return await self._issue(host)
            except AcmeError:
                raise
            except (errors.Error, messages.Error, OSError, ValueError) as exc:
                raise AcmeError(f"{type(exc).__name__}: {exc}") from None
            except Exception as exc:  # requests' and josepy's own errors: still this attempt's failure
                raise AcmeError(f"{type(exc).__name__}: {exc}") from None

    async def _issue(self, host: str) -> tuple[bytes, bytes]:
        from acme import challenges, crypto_util, messages

        acme = await asyncio.to_thread(self._client)
        key_pem = new_key_pem()
        csr = crypto_util.make_csr(key_pem, [host])
        order = await asyncio.to_thread(acme.new_order, csr)
        answered: list[tuple[messages.ChallengeBody, challenges.ChallengeResponse, str]] = []
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the server reuses a recent validation of this name: nothing to answer
            challb = next((c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)), None)
            if challb is None:
                raise AcmeError(f"the ACME server offers no http-01 challenge for {host}")
            response, validation = challb.response_and_validation(acme.net.key)
            token = challb.chall.encode("token")
            await self.answer(token, validation)
            answered.append((challb, response, token))
        try:
            for challb, response, _ in answered:
                await asyncio.to_thread(acme.answer_challenge, challb, response)
            deadline = dt.datetime.now() + dt.timedelta(seconds=90)
            done = await asyncio.to_thread(acme.poll_and_finalize, order, deadline)
        finally:
            for _, _, token in answered:
                await self.answer(token, None)
        return done.fullchain_pem.encode(), key_pem

    def _client(self) -> client.ClientV2:
        """The ACME client with this directory's account (registered on first use)."""
        from acme import client, messages
        from cryptography.hazmat.primitives.asymmetric import rsa
        from josepy.jwk import JWKRSA

        tag = hashlib.sha256(self.settings.directory.encode()).hexdigest()[:12]
        key_path, account_path = self.dir / f"account-{tag}.key.json", self.dir / f"account-{tag}.json"
        self.dir.mkdir(parents=True, exist_ok=True)
        if key_path.exists():
            key = JWKRSA.json_loads(key_path.read_text())
        else:
            key = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
            write_private(key_path, key.json_dumps().encode())
        verify: Any = self.settings.ca_bundle or True  # requests takes a CA bundle's path here
        net = client.ClientNetwork(key, user_agent="mooring", verify_ssl=verify)
        directory = client.ClientV2.get_directory(self.settings.directory, net)
        acme = client.ClientV2(directory, net)
        if account_path.exists():
            net.account = messages.RegistrationResource.json_loads(account_path.read_text())
        else:
            registration = messages.NewRegistration.from_data(
                email=self.settings.email, terms_of_service_agreed=True
            )
            account = acme.new_account(registration)
            write_private(account_path, account.json_dumps().encode())
        return acme
