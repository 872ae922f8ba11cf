"""How a run ended, in the runtime's fixed vocabulary: a pure reading of what the kernel reported."""

from __future__ import annotations

import signal

from .process import ProcessEnd
from .states import ExitReason, ExitStatus


def classify_exit(
    end: ProcessEnd | None,
    *,
    stopping: bool,
    how: str,
    oom_fired: bool,
    executable: str,
    memory_limit: int | None,
) -> ExitStatus:
    """The :class:`ExitStatus` of a run, from its end (``None``: never seen to end) and context.

    ``stopping`` means mooring stopped it (``how`` says with what); ``oom_fired`` that the
    cgroup's OOM-kill counter went up during the run.
    """
    code = end.returncode if end is not None else None
    exit_code = code if code is not None and code >= 0 else None
    sig = -code if code is not None and code < 0 else None
    if end is not None and end.exec_failed:
        detail = f"could not exec {executable} (the spawn wrapper exited {code}; its message is in the log)"
        return ExitStatus(ExitReason.START_FAILED, exit_code, None, detail)
    if stopping:
        return ExitStatus(ExitReason.STOPPED, exit_code, sig, how)
    if code is None:
        return ExitStatus(ExitReason.EXIT_UNKNOWN)
    if sig == signal.SIGKILL and oom_fired:
        detail = f"memory limit {memory_limit} bytes" if memory_limit else ""
        return ExitStatus(ExitReason.OOM_KILLED, None, sig, detail)
    detail = "the cgroup's OOM killer fired during this run" if oom_fired else ""
    if sig is not None:
        return ExitStatus(ExitReason.KILLED, None, sig, detail)
    return ExitStatus(ExitReason.CLEAN_EXIT if code == 0 else ExitReason.CRASHED, code, None, detail)
