"""Secret values, encrypted at rest: named, versioned secrets of an app, and the manifest's fingerprinted ones.

Every value is AES-256-GCM ciphertext (store/keyring.py) bound to its address (app, name and version,
or the fingerprint), so a copy of the database without the key file reveals nothing, and a value moved
to another row does not decrypt. Every value decrypted here is registered with the process's masker.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from mooring.errors import NotFound, StoreError, UsageError
from mooring.masking import masker
from mooring.store.apps import find_app_id, lock_app
from mooring.store.base import StoreBase, insert_for
from mooring.store.columns import utcnow
from mooring.store.keyring import Keyring, load_keyring
from mooring.store.tables import AppRow, InstanceRow, SecretValueRow, SecretVersionRow

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,199}")
MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SecretVersion:
    """One version of a named secret, as listed: never its value."""

    app: str
    name: str
    version: int
    created_at: datetime
    created_by: str


def associated_data(app: str, name: str, version: int) -> str:
    """What each ciphertext is bound to: a value only decrypts at the address it was written for."""
    return f"secret {app}/{name} v{version}"


def check_secret_name(name: str) -> str:
    if not SECRET_NAME.fullmatch(name):
        raise UsageError(
            f"secret name {name!r} is not allowed",
            hint="use letters, digits, '_', '.' or '-', starting with a letter or '_' (e.g. DB_PASSWORD)",
        )
    return name


class SecretRepository(StoreBase):
    """Encrypted secret values: set, list, read and re-encrypt under a new key."""

    key_path: Path | None = None
    _keyring: Keyring | None = None

    @property
    def keyring(self) -> Keyring:
        """The keyring, read (or created) on first use."""
        if self._keyring is None:
            self._keyring = load_keyring(self.key_path)
        return self._keyring

    def _decrypt(self, text: str, associated: str) -> str:
        """Decrypt; a key id this keyring lacks re-reads the file once (another process rotated it)."""
        key_id = text.split(":", 2)[1] if text.count(":") >= 2 else ""
        if key_id and key_id not in dict(self.keyring.keys):
            self._keyring = load_keyring(self.key_path, create=False)
        return self.keyring.decrypt(text, associated)

    # --- the manifest's secret-looking env values, by fingerprint ---------------------------

    def put_secret(self, fingerprint: str, value: str) -> None:
        """Store ``value`` under ``fingerprint``; storing the same pair again is a no-op."""
        masker.add(value)
        with self._write(f"store secret {fingerprint}") as session:
            stored = session.scalar(
                select(SecretValueRow.value).where(SecretValueRow.fingerprint == fingerprint)
            )
            if stored is None:
                session.execute(
                    insert_for(session, SecretValueRow)
                    .values(
                        fingerprint=fingerprint,
                        value=self.keyring.encrypt(value, fingerprint),
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["fingerprint"])
                )
                return
            if self._decrypt(stored, fingerprint) != value:
                # Never print either value: they are secrets.
                raise StoreError(
                    f"secret fingerprint {fingerprint} already stores a different value",
                    hint="fingerprints must be computed from the value; this is a bug in the caller",
                )

    def get_secrets(self, fingerprints: Iterable[str]) -> dict[str, str]:
        """The values stored under these fingerprints; unknown fingerprints are absent from the result."""
        wanted = set(fingerprints)
        if not wanted:
            return {}
        with self._read("read secrets") as session:
            rows = session.execute(
                select(SecretValueRow.fingerprint, SecretValueRow.value).where(
                    SecretValueRow.fingerprint.in_(wanted)
                )
            ).all()
        out = {fp: self._decrypt(text, fp) for fp, text in rows}
        for value in out.values():
            masker.add(value)
        return out

    # --- named secrets of an app (mooring secret) --------------------------------------------

    def set_secret(self, app: str, name: str, value: str, by: str) -> SecretVersion:
        """Add a new version of ``name`` (version 1 if new); older versions stay for rollbacks."""
        check_secret_name(name)
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise UsageError(f"secret {name}: the value is larger than {MAX_VALUE_BYTES // 1024} KiB")
        if value == "":
            raise UsageError(
                f"secret {name}: the value is empty", hint="give the value on stdin or --from-file"
            )
        masker.add(value)
        with self._write(f"set secret {name} of app {app!r}") as session:
            app_id = lock_app(session, app).id
            last = session.scalar(
                select(func.max(SecretVersionRow.version)).where(
                    SecretVersionRow.app_id == app_id, SecretVersionRow.name == name
                )
            )
            version = (last or 0) + 1
            row = SecretVersionRow(
                app_id=app_id,
                name=name,
                version=version,
                ciphertext=self.keyring.encrypt(value, associated_data(app, name, version)),
                key_id=self.keyring.current,
                created_at=utcnow(),
                created_by=by,
            )
            session.add(row)
            session.flush()
            return SecretVersion(app, name, version, row.created_at, by)

    def secret_versions(self, app: str, name: str | None = None) -> list[SecretVersion]:
        """Versions of the app's secrets (all, or of ``name``), by name then version."""
        with self._read(f"list secrets of app {app!r}") as session:
            app_id = find_app_id(session, app)
            if app_id is None:
                return []
            query = select(SecretVersionRow).where(SecretVersionRow.app_id == app_id)
            if name is not None:
                query = query.where(SecretVersionRow.name == name)
            rows = session.scalars(query.order_by(SecretVersionRow.name, SecretVersionRow.version))
            return [SecretVersion(app, r.name, r.version, r.created_at, r.created_by) for r in rows]

    def current_secret_versions(self, app: str) -> dict[str, int]:
        """Name -> newest version, for every secret of the app."""
        out: dict[str, int] = {}
        for v in self.secret_versions(app):
            out[v.name] = v.version
        return out

    def secret_value(self, app: str, name: str, version: int) -> str:
        """The plaintext of one version; NotFound naming it when it does not exist."""
        with self._read(f"read secret {name} of app {app!r}") as session:
            app_id = find_app_id(session, app)
            text = None
            if app_id is not None:
                text = session.scalar(
                    select(SecretVersionRow.ciphertext).where(
                        SecretVersionRow.app_id == app_id,
                        SecretVersionRow.name == name,
                        SecretVersionRow.version == version,
                    )
                )
        if text is None:
            raise NotFound(
                f"app {app!r} has no secret {name} version {version}",
                hint=f"`mooring secret versions {name} --app {app}` lists its versions",
            )
        value = self._decrypt(text, associated_data(app, name, version))
        masker.add(value)
        return value

    def remove_secret(self, app: str, name: str) -> int:
        """Delete every version of ``name``; how many were deleted (NotFound when none)."""
        with self._write(f"remove secret {name} of app {app!r}") as session:
            app_id = find_app_id(session, app)
            removed = 0
            if app_id is not None:
                result = session.execute(
                    delete(SecretVersionRow).where(
                        SecretVersionRow.app_id == app_id, SecretVersionRow.name == name
                    )
                )
                removed = int(getattr(result, "rowcount", 0) or 0)
            if not removed:
                raise NotFound(
                    f"app {app!r} has no secret {name}", hint=f"`mooring secret list --app {app}` lists them"
                )
            return removed

    def load_all_secrets_for_masking(self) -> int:
        """Decrypt every stored value once so the masker knows them (engine start); how many."""
        with self._read("read every secret") as session:
            legacy = session.execute(select(SecretValueRow.fingerprint, SecretValueRow.value)).all()
            named = session.execute(
                select(
                    SecretVersionRow.name, SecretVersionRow.version, SecretVersionRow.ciphertext
                ).add_columns(SecretVersionRow.app_id)
            ).all()
            apps = _app_names(session)
        for fp, text in legacy:
            masker.add(self._decrypt(text, fp))
        for name, version, text, app_id in named:
            masker.add(self._decrypt(text, associated_data(apps[app_id], name, version)))
        return len(legacy) + len(named)

    # --- instances' env, sealed in their stored record (engine/book.py) ------------------------

    def seal_env(self, instance_id: str, what: str, env: dict[str, str]) -> str:
        return self.keyring.encrypt(json.dumps(env, sort_keys=True), sealed_env_data(instance_id, what))

    def open_env(self, instance_id: str, what: str, sealed: str) -> dict[str, str]:
        return dict(json.loads(self._decrypt(sealed, sealed_env_data(instance_id, what))))

    # --- the key ------------------------------------------------------------------------------

    def rotate_key(self) -> tuple[str, int]:
        """Re-encrypt every value under a new key; (new key id, values re-encrypted).

        The keyring is first saved with both keys, then every row is re-encrypted in one transaction,
        then the old key is dropped from the file: a crash at any point leaves every value readable.
        Readers keep working throughout (they decrypt with whichever key a row names).
        """
        old = self.keyring
        both = old.with_new_key()
        both.save()
        self._keyring = both
        count = 0
        with self._write("re-encrypt secrets under the new key") as session:
            apps = _app_names(session)
            for fp, text in session.execute(select(SecretValueRow.fingerprint, SecretValueRow.value)).all():
                plain = both.decrypt(text, fp)
                session.execute(
                    update(SecretValueRow)
                    .where(SecretValueRow.fingerprint == fp)
                    .values(value=both.encrypt(plain, fp))
                )
                count += 1
            for row in session.scalars(select(SecretVersionRow)).all():
                ad = associated_data(apps[row.app_id], row.name, row.version)
                row.ciphertext = both.encrypt(both.decrypt(row.ciphertext, ad), ad)
                row.key_id = both.current
                count += 1
            for instance in session.scalars(select(InstanceRow)).all():
                # a deep copy: the JSON column sees a change only when given a new, different value
                info = _resealed(instance.id, copy.deepcopy(instance.info or {}), both)
                if info is not None:
                    instance.info = info
                    flag_modified(instance, "info")
                    count += 1
        final = both.only_current()
        final.save()
        self._keyring = final
        return final.current, count


def sealed_env_data(instance_id: str, what: str) -> str:
    """What an instance's sealed env is bound to (``what``: ``spec`` or ``probe``)."""
    return f"instance {instance_id} {what} env"


def _resealed(instance_id: str, info: dict[str, Any], ring: Keyring) -> dict[str, Any] | None:
    """``info`` with its sealed envs re-encrypted under the current key; None when it has none."""
    changed = False
    for what, holder in (("spec", (info.get("record") or {}).get("spec")), ("probe", info.get("probe"))):
        if isinstance(holder, dict) and "env_sealed" in holder:
            ad = sealed_env_data(instance_id, what)
            holder["env_sealed"] = ring.encrypt(ring.decrypt(holder["env_sealed"], ad), ad)
            changed = True
    return info if changed else None


def _app_names(session: Session) -> dict[int, str]:
    return {app_id: name for app_id, name in session.execute(select(AppRow.id, AppRow.name)).all()}
