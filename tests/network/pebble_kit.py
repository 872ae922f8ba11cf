"""Pebble, Let's Encrypt's test ACME server (Debian package ``pebble``), on loopback for a test.

Its validation authority resolves every name through pebble-challtestsrv's mock DNS (every name
is 127.0.0.1) and fetches HTTP-01 answers from ``http_port``: the edge's HTTP listener. So the
challenges are really answered by the edge, as Let's Encrypt would see them. Certificates it
issues chain to a root made at its start, fetched from its management API (``/roots/0``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.kit import free_port, wait_until


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    ca_bundle: Path  # the CA of Pebble's own HTTPS listener (not of the certificates it issues)
    management: str

    def root(self) -> str:
        """The PEM of the root the issued certificates chain to."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context, timeout=10) as reply:
            text: str = reply.read().decode()
            return text


def self_signed(folder: Path, name: str, *, days: int = 365) -> tuple[Path, Path]:
    """A certificate for ``name`` (and 127.0.0.1) with its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _binary(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: apt-get install pebble (scripts/setup-debian.sh test installs it)"
    return found


@contextmanager
def pebble(folder: Path, http_port: int) -> Iterator[Pebble]:
    """Pebble and its mock DNS, validating HTTP-01 on ``http_port``; stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(folder, "localhost")
    acme_port, management_port, dns_port = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    log = open(folder / "pebble.log", "ab")  # noqa: SIM115 - closed below, after the processes end
    dns = subprocess.Popen(
        [
            _binary("pebble-challtestsrv"),
            "-dns01",
            f"127.0.0.1:{dns_port}",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{free_port()}",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    server = subprocess.Popen(
        [_binary("pebble"), "-config", str(folder / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    try:

        def answers() -> bool:
            assert server.poll() is None, (folder / "pebble.log").read_text()
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", acme_port)) == 0

        wait_until(answers, what="pebble to listen")
        yield Pebble(f"https://127.0.0.1:{acme_port}/dir", cert, f"https://127.0.0.1:{management_port}")
    finally:
        for proc in (server, dns):
            if proc.poll() is None:  # once reaped, its pid may name another process
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
