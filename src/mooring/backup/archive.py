"""The backup file: a gzip'd tar of named members plus ``backup.json`` (format, time, database kind,
schema revision, row counts, and the sha256 and size of every member), optionally sealed with
AES-256-GCM under a key derived from a passphrase (scrypt).

The checksums catch a member that changed; gzip's CRC and the tar structure catch a damaged file;
the GCM tag catches any change at all to an encrypted one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from mooring.errors import MooringError

FORMAT = "mooring-backup"
VERSION = 1
INDEX = "backup.json"
ENCRYPTED_MAGIC = b"MOORING-BACKUP-AES256GCM-1\n"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class BackupError(MooringError):
    """A backup that cannot be made, read, trusted or restored; the message says which and why."""

    code = "backup_error"


@dataclass(frozen=True)
class Backup:
    """A backup's index and members, read and checked."""

    index: dict[str, Any]
    members: dict[str, bytes]
    encrypted: bool


def pack(members: dict[str, bytes], index: dict[str, Any]) -> bytes:
    """The archive bytes (gzip'd tar) of ``members`` with ``backup.json`` first."""
    full_index = {
        **index,
        "format": FORMAT,
        "version": VERSION,
        "members": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in members.items()
        },
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in [
            (INDEX, json.dumps(full_index, indent=2, sort_keys=True).encode()),
            *members.items(),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def unpack(blob: bytes, source: str, passphrase: bytes | None) -> Backup:
    """Read and check a backup; raise BackupError naming ``source`` and what is wrong."""
    encrypted = blob.startswith(ENCRYPTED_MAGIC)
    if encrypted:
        if passphrase is None:
            raise BackupError(
                f"{source} is encrypted",
                hint="give its passphrase: --passphrase-file FILE or $MOORING_BACKUP_PASSPHRASE",
            )
        blob = decrypt(blob, passphrase, source)
    try:
        raw = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r") as tar:
            members: dict[str, bytes] = {}
            for info in tar.getmembers():
                extracted = tar.extractfile(info) if info.isfile() else None
                if extracted is None:
                    raise BackupError(f"{source}: member {info.name!r} is not a regular file")
                members[info.name] = extracted.read()
    except (OSError, EOFError, tarfile.TarError, gzip.BadGzipFile) as exc:
        raise BackupError(
            f"{source} is damaged: it is not a readable mooring backup ({exc})",
            hint="use another copy of the backup; this one cannot be restored",
        ) from None
    try:
        index = json.loads(members.pop(INDEX))
    except (KeyError, ValueError) as exc:
        raise BackupError(
            f"{source} is damaged or not a mooring backup: {INDEX} is missing or unreadable ({exc})"
        ) from None
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise BackupError(
            f"{source} is not a mooring backup of format {VERSION} (found {index.get('format')!r} {index.get('version')!r})"
        )
    expected = index.get("members", {})
    if set(expected) != set(members):
        raise BackupError(
            f"{source} is damaged: members {sorted(members)} do not match its index {sorted(expected)}"
        )
    for name, data in members.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected[name]["sha256"] or len(data) != expected[name]["size"]:
            raise BackupError(
                f"{source} is damaged: {name} has sha256 {digest[:16]}..., its index says {expected[name]['sha256'][:16]}...",
                hint="use another copy of the backup; this one cannot be restored",
            )
    return Backup(index=index, members=members, encrypted=encrypted)


def _key(passphrase: bytes, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, **_SCRYPT).derive(passphrase)


def encrypt(blob: bytes, passphrase: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    return (
        ENCRYPTED_MAGIC + salt + nonce + AESGCM(_key(passphrase, salt)).encrypt(nonce, blob, ENCRYPTED_MAGIC)
    )


def decrypt(blob: bytes, passphrase: bytes, source: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    body = blob[len(ENCRYPTED_MAGIC) :]
    salt, nonce, sealed = body[:16], body[16:28], body[28:]
    try:
        return AESGCM(_key(passphrase, salt)).decrypt(nonce, sealed, ENCRYPTED_MAGIC)
    except InvalidTag:
        raise BackupError(
            f"{source} cannot be decrypted: the passphrase is wrong or the file is damaged",
            hint="check the passphrase; if it is right, use another copy of the backup",
        ) from None
