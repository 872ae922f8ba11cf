"""``status --explain``'s first error: the line that names the cause, not the fallout after it."""

from __future__ import annotations

from mooring.engine.explain import first_error

STAMP = "2026-12-03T11:52:32.608211Z"


def stamped(*lines: str) -> list[str]:
    return [f"{STAMP} {line}" for line in lines]


def test_a_python_traceback_names_its_exception_not_the_servers_halt_after_it() -> None:
    log = stamped(
        "stderr [2026-12-03 11:52:32 +0000] [12] [INFO] Booting worker with pid: 12",
        "stderr [2026-12-03 11:52:32 +0000] [12] [ERROR] Exception in worker process",
        "stderr Traceback (most recent call last):",
        'stderr   File "/srv/app.py", line 3, in <module>',
        "stderr RuntimeError: boom: this release cannot start",
        "stderr Traceback (most recent call last):",
        "stderr gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
        "mooring exited with code 1",
    )
    assert first_error(log) == "stderr RuntimeError: boom: this release cannot start"


def test_other_runtimes_errors_are_found() -> None:
    assert first_error(stamped("stderr panic: runtime error: index out of range")) == (
        "stderr panic: runtime error: index out of range"
    )
    assert first_error(
        stamped("stdout 2026-12-03 12:00:00.000 UTC [7] FATAL:  data directory has wrong owner")
    )
    assert first_error(stamped("stderr Exception in thread main java.lang.IllegalStateException: no config"))
    assert first_error(stamped("stderr 2026/12/03 12:00:00 [error] 7#7: bind() failed")) is not None


def test_the_engines_own_lines_and_a_clean_log_name_no_error() -> None:
    assert first_error(stamped("stdout listening on 8080", "mooring exited with code 1")) is None
    assert first_error(stamped("stdout no errors here: all good", "stdout MyErrorHandler installed")) is None
