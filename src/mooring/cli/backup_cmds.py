"""``mooring backup`` and ``mooring restore``: host-local commands on the state store (docs/backup.md).

Like ``mooring serve`` they act on this host's ``$MOORING_HOME`` and database directly, not through
the engine: a restore must work with no engine running, and a backup must not depend on one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mooring.cli.options import JsonFlag

PASSPHRASE_ENV = "MOORING_BACKUP_PASSPHRASE"
PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file", help=f"Encrypt/decrypt with the passphrase in this file (or ${PASSPHRASE_ENV})."
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)


def _passphrase(path: Path | None) -> bytes | None:
    from mooring.backup.schedule import read_passphrase

    if path is not None:
        return read_passphrase(path)
    env = os.environ.get(PASSPHRASE_ENV)
    return env.encode() if env else None


def backup(
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="The backup file (default: mooring-backup-TIME.tar.gz here)."),
    ] = None,
    passphrase_file: PassphraseFile = None,
    json_output: JsonFlag = False,
) -> int:
    """Write a consistent, checksummed backup of the state store (and the secret store's key), online."""
    from mooring.backup import backup_here
    from mooring.backup.schedule import write_private
    from mooring.cli.output import out, print_json

    passphrase = _passphrase(passphrase_file)
    blob, index = backup_here(passphrase)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = Path(output or f"mooring-backup-{stamp}.tar.gz{'.enc' if passphrase else ''}")
    write_private(target, blob)
    summary = {
        "file": str(target),
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "encrypted": passphrase is not None,
        **{k: index[k] for k in ("created_at", "database", "schema_revision", "counts")},
        "home_files": index["home_files"],
    }
    if json_output:
        print_json(summary)
    else:
        counts = ", ".join(f"{n} {t}" for t, n in index["counts"].items())
        out.print(
            f"wrote {target} ({len(blob)} bytes, sha256 {summary['sha256'][:16]}...): {counts}", markup=False
        )
        if not passphrase:
            out.print(
                "not encrypted: it holds secret values; keep it private or pass --passphrase-file",
                markup=False,
            )
    return 0


def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `mooring backup`.")],
    verify_only: Annotated[
        bool, typer.Option("--verify", help="Check integrity and open it; change nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing state database.")] = False,
    passphrase_file: PassphraseFile = None,
    json_output: JsonFlag = False,
) -> int:
    """Restore the state store from a backup (the engine must be stopped), or --verify it."""
    from mooring.backup import BackupError, restore_here, verify
    from mooring.cli.output import out, print_error, print_json

    try:
        blob = file.read_bytes()
    except OSError as exc:
        print_error(f"cannot read {file}: {exc.strerror or exc}")
        return 1
    try:
        if verify_only:
            report = verify(blob, str(file), _passphrase(passphrase_file))
        else:
            report = restore_here(blob, str(file), passphrase=_passphrase(passphrase_file), force=force)
    except BackupError as exc:
        if json_output:
            print_json({"ok": False, "error": exc.message, "hint": exc.hint})
        else:
            print_error(exc.message, exc.hint)
        return exc.exit_code
    if json_output:
        print_json({"ok": True, **report})
    else:
        _say(out, report, verify_only)
    return 0


def _say(out: Any, report: dict[str, Any], verify_only: bool) -> None:
    counts = ", ".join(f"{n} {t}" for t, n in (report.get("counts") or {}).items())
    head = "verified" if verify_only else f"restored into {report['restored_to']}"
    out.print(
        f"{head}: {report['file']} of {report['created_at']} ({report['database']}, schema {report['schema_revision']}): {counts}",
        markup=False,
    )
    if report.get("home_files"):
        out.print(f"with {', '.join(report['home_files'])}", markup=False)
    if report.get("previous_kept_as"):
        out.print(f"the previous database is kept as {report['previous_kept_as']}", markup=False)
