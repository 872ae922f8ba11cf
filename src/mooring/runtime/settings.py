"""Knobs shared by every instance of one supervisor (durations are seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cgroups import CgroupHost
from .logs import DEFAULT_KEEP, DEFAULT_MAX_BYTES, LogNotifier
from .policy import BackoffPolicy


@dataclass(frozen=True)
class RuntimeSettings:
    """Where logs go, which cgroups exist, and the timing of restarts and kills."""

    log_dir: Path
    cgroups: CgroupHost
    fifo_dir: Path | None = None  # where the output FIFOs live; None: beside the logs
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_keep: int = DEFAULT_KEEP
    kill_timeout: float = 10.0  # how long SIGKILLed processes may take to vanish before we report them
    failure_log_lines: int = 20  # log lines kept on the record when an instance gives up
    notifier: LogNotifier = field(default_factory=LogNotifier)
