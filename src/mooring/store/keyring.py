"""The key that encrypts secret values at rest: AES-256-GCM, kept in a file apart from the database.

The file is ``$MOORING_HOME/secret.key`` (mode 0600, created on first use) unless
``$MOORING_SECRET_KEY_FILE`` names another place, so the key can live on another disk than
``state.db``. It is a keyring: a header line, then one ``<key id> <base64 key>`` line per key, the
first being the key new values are encrypted with. During ``mooring secret rotate-key`` it holds the
new and the old key, so a crash halfway leaves every value readable (docs/secrets.md).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mooring.errors import StoreError
from mooring.paths import ensure_home

KEY_FILE_ENV = "MOORING_SECRET_KEY_FILE"
KEY_FILE_NAME = "secret.key"
ENGINE_CONFIG = "engine.toml"
HEADER = "mooring-keyring 1"
# Ciphertexts are text: "enc1:<key id>:<base64 of nonce + ciphertext + tag>".
CIPHER_PREFIX = "enc1:"
NONCE_BYTES = 12


def key_file_path(home: Path | None = None) -> Path:
    """Where the keyring lives: ``$MOORING_SECRET_KEY_FILE``, else ``[engine] secret_key_file`` of
    ``<home>/engine.toml``, else ``<home>/secret.key`` (home: ``$MOORING_HOME``)."""
    explicit = os.environ.get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = home or ensure_home()
    try:
        config = tomllib.loads((home / ENGINE_CONFIG).read_text())
    except FileNotFoundError:
        config = {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StoreError(f"{home / ENGINE_CONFIG}: cannot read it: {exc}") from None
    configured = config.get("engine", {}).get("secret_key_file")
    if configured is not None:
        if not isinstance(configured, str) or not configured:
            raise StoreError(f"{home / ENGINE_CONFIG}: engine.secret_key_file must be a path (a string)")
        return Path(configured).expanduser()
    return home / KEY_FILE_NAME


def is_ciphertext(text: str) -> bool:
    return text.startswith(CIPHER_PREFIX)


@dataclass(frozen=True)
class Keyring:
    """Keys by id; ``current`` encrypts, any of them decrypts what it encrypted."""

    path: Path
    keys: tuple[tuple[str, bytes], ...]

    @property
    def current(self) -> str:
        return self.keys[0][0]

    def encrypt(self, plaintext: str, associated: str) -> str:
        """Encrypt under the current key; ``associated`` (name and version) is bound, not stored."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # ~8.5 MiB: only with secrets

        key_id, key = self.keys[0]
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), associated.encode("utf-8"))
        return f"{CIPHER_PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, text: str, associated: str) -> str:
        """The plaintext; a StoreError naming the value (never its content) when it cannot be read."""
        if not is_ciphertext(text):
            raise StoreError(f"{associated}: not encrypted in the state database")
        key_id, _, blob = text[len(CIPHER_PREFIX) :].partition(":")
        key = dict(self.keys).get(key_id)
        if key is None:
            raise StoreError(
                f"{associated}: encrypted with key {key_id}, which the keyring {self.path} lacks",
                hint=f"point {KEY_FILE_ENV} at the key file this database was used with",
            )
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        raw = base64.b64decode(blob)
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode("utf-8"))
        except InvalidTag:
            raise StoreError(
                f"{associated}: does not decrypt with key {key_id}: the value or its name was altered",
                hint="set the secret again (mooring secret set)",
            ) from None
        return plain.decode("utf-8")

    def with_new_key(self) -> Keyring:
        """A keyring whose current key is new, the others kept to read what they encrypted."""
        return Keyring(self.path, ((new_key_id(), new_key()), *self.keys))

    def only_current(self) -> Keyring:
        return Keyring(self.path, self.keys[:1])

    def save(self) -> None:
        """Write the file atomically with mode 0600 (a temporary file renamed over the old one)."""
        lines = [HEADER] + [f"{kid} {base64.b64encode(key).decode('ascii')}" for kid, key in self.keys]
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, ("\n".join(lines) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)


def new_key_id() -> str:
    return secrets.token_hex(4)


def new_key() -> bytes:
    """A new AES-256 key (what AESGCM.generate_key(256) returns: 32 random bytes)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM.generate_key(256)


def load_keyring(path: Path | None = None, create: bool = True) -> Keyring:
    """Read the keyring, creating it (one new key, mode 0600) when it does not exist and ``create``."""
    path = path or key_file_path()
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        if not create:
            raise StoreError(
                f"the secret key file {path} does not exist",
                hint=f"restore it, or point {KEY_FILE_ENV} at it",
            ) from None
        ring = Keyring(path, ((new_key_id(), new_key()),))
        ring.save()
        return ring
    except OSError as exc:
        raise StoreError(f"cannot read the secret key file {path}: {exc.strerror}") from exc
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise StoreError(
            f"the secret key file {path} is readable by others (mode {mode:04o})",
            hint=f"chmod 600 {path}",
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != HEADER:
        raise StoreError(f"{path} is not a mooring keyring (first line must be {HEADER!r})")
    keys = []
    for number, line in enumerate(lines[1:], start=2):
        key_id, _, encoded = line.partition(" ")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise StoreError(f"{path}:{number}: not '<key id> <base64 of 32 bytes>'")
        keys.append((key_id, key))
    if not keys:
        raise StoreError(f"{path} holds no key", hint="restore the key file from a backup")
    return Keyring(path, tuple(keys))
