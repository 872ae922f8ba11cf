"""The edge's certificates: one PEM per host (chain and key, mode 0600) under ``$MOORING_HOME/certs``.

HAProxy loads them through a crt-list; a self-signed fallback comes first, so the HTTPS listener
can start before any certificate is issued (a client then sees an untrusted certificate, never a
refused connection). Key material is only ever written here: no snapshot, event, log or API
answer carries it (the views give issuer, expiry and serial).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mooring.network.mappings import PublishError

if TYPE_CHECKING:
    from cryptography import x509

# cryptography (~8.5 MiB resident) is imported where a certificate or key is made or read: an
# engine that serves no HTTPS route never loads it (the secrets' keyring imports it the same way).

FALLBACK = "_fallback.pem"


@dataclass
class CertStatus:
    """What the views say of a host's certificate (never its key)."""

    host: str
    source: str  # "acme" | "files"
    issuer: str | None = None
    not_after: str | None = None  # ISO 8601, UTC
    serial: str | None = None
    last_error: str | None = None  # the last ACME attempt's error, cleared by a success
    last_attempt: str | None = None
    renewed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def write_private(path: Path, data: bytes) -> None:
    """Atomically, mode 0600 from the first byte (never readable by others, even for an instant)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, path)


def new_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def leaf_of(pem: bytes) -> x509.Certificate:
    from cryptography import x509

    return x509.load_pem_x509_certificates(pem)[0]


def self_signed(host: str) -> bytes:
    """A throwaway certificate and key (PEM) for ``host``: the fallback HAProxy starts with."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - dt.timedelta(days=1))
        .not_valid_after(now() + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def file_name(host: str) -> str:
    return host.replace("*", "_wildcard") + ".pem"


class CertStore:
    """The certificates on disk, their status beside them (``<host>.json``), and HAProxy's crt-list."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "certs"
        self.crt_list = self.dir / "crt-list.txt"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        if not (self.dir / FALLBACK).exists():
            write_private(self.dir / FALLBACK, self_signed("mooring.invalid"))

    def path(self, host: str) -> Path:
        return self.dir / file_name(host)

    def has(self, host: str) -> bool:
        return self.path(host).exists()

    def hosts(self) -> list[str]:
        """Hosts with a certificate on disk, in a stable order."""
        return sorted(p.stem.replace("_wildcard", "*") for p in self.dir.glob("*.pem") if p.name != FALLBACK)

    def write_list(self, hosts: list[str]) -> None:
        """The crt-list HAProxy reads at start and reload: the hosts' certificates that exist."""
        lines = [str(self.path(h)) for h in hosts if self.has(h)]
        write_private(self.crt_list, ("\n".join(lines) + "\n").encode() if lines else b"")

    def install(self, host: str, chain_pem: bytes, key_pem: bytes, source: str) -> bytes:
        """Store a certificate (validated: it parses and its key matches); the PEM HAProxy loads."""
        from cryptography.hazmat.primitives import serialization

        try:
            leaf = leaf_of(chain_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except ValueError as exc:
            raise PublishError(
                f"the certificate for {host} is not a PEM certificate and key: {exc}"
            ) from None
        if leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise PublishError(f"the certificate for {host} does not match its private key")
        pem = chain_pem.strip() + b"\n" + key_pem.strip() + b"\n"
        self.dir.mkdir(parents=True, exist_ok=True)
        write_private(self.path(host), pem)
        status = self.status(host, source)
        status.renewed_at = now().isoformat(timespec="seconds")
        status.last_error = None
        self.save_status(status)
        return pem

    def not_after(self, host: str) -> dt.datetime | None:
        try:
            return leaf_of(self.path(host).read_bytes()).not_valid_after_utc
        except (OSError, ValueError):
            return None

    def status(self, host: str, source: str) -> CertStatus:
        status = CertStatus(host, source)
        try:
            saved = json.loads(self.path(host).with_suffix(".json").read_text())
            status = CertStatus(**{**saved, "host": host, "source": source})
        except (OSError, ValueError, TypeError):
            pass
        try:
            leaf = leaf_of(self.path(host).read_bytes())
            status.issuer = leaf.issuer.rfc4514_string()
            status.not_after = leaf.not_valid_after_utc.isoformat(timespec="seconds")
            status.serial = format(leaf.serial_number, "x")
        except (OSError, ValueError):
            status.issuer = status.not_after = status.serial = None
        return status

    def save_status(self, status: CertStatus) -> None:
        saved = {
            k: v for k, v in status.to_dict().items() if k in ("last_error", "last_attempt", "renewed_at")
        }
        self.path(status.host).with_suffix(".json").write_text(json.dumps(saved, sort_keys=True))

    def failed(self, host: str, source: str, error: str) -> None:
        status = self.status(host, source)
        status.last_error = error
        status.last_attempt = now().isoformat(timespec="seconds")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.save_status(status)
