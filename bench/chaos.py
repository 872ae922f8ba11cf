"""A fault campaign anyone can run: `make chaos` (N=50) or `python bench/chaos.py --trials N`.

Each trial brings a 3-replica app up on a fresh engine, starts an operation (a rolling, canary or
blue_green update, a rollback, a down), injects one fault at a random point of it, lets the engine
recover as an operator would (the next CLI call starts an engine; a failed `down` is run again), and
checks the outcome:

- the release ends in the state it should (completed; a rollback restores the version before it);
- every replica runs the right version, exactly once (one live instance per slot, answering it);
- no orphan process (exactly as many app processes as replicas; none after a down);
- history matches (every target of the final release is ready, the latest release is the expected one).

Faults: kill -9, SIGTERM and SIGSTOP (--freeze seconds) of the engine, kill -9 of a serving instance,
a write lock on the state store held by another process (--lock seconds), and a full disk under
$MOORING_HOME (its own tmpfs, filled to the last byte for --lock seconds, then freed). It prints held/tried
per fault and per scenario, and exits 1 if any trial did not hold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine.conftest import Mooring  # noqa: E402  (the test harness: real CLI, real engine)
from tests.engine.releases_kit import APP_SCRIPT, manifest  # noqa: E402

FAULTS = ("kill9", "sigterm", "sigstop", "kill_instance", "store_lock", "disk_full")
HOME_SIZE = "96m"  # the disk_full trial's $MOORING_HOME: a tmpfs of its own, filled to the last byte
SCENARIOS = ("rolling", "canary", "blue_green", "rollback", "down")
REPLICAS = 3
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute("BEGIN EXCLUSIVE")
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


@dataclass
class Outcome:
    scenario: str
    fault: str
    held: bool
    why: str
    seconds: float


def wait_until(what: str, condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


class Trial:
    def __init__(self, where: Path, scenario: str, fault: str, rng: random.Random, args: Any) -> None:
        self.scenario, self.fault, self.rng, self.args = scenario, fault, rng, args
        home, work = where / "home", where / "work"
        work.mkdir(parents=True)
        self.mounted: Path | None = None
        if fault == "disk_full":  # the store, the logs and the engine's files all live on it
            home.mkdir()
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={HOME_SIZE},mode=0700", "tmpfs", str(home)], check=True
            )
            self.mounted = home
        env = {**os.environ, "MOORING_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        env.pop("MOORING_DATABASE_URL", None)
        for key in ("V", "BEHAVIOR", "FAIL_REPLICAS", "FAIL_FLAG", "MOORING_FAULT"):
            env.pop(key, None)
        self.m = Mooring(home=home, env=env, cwd=work)

    # --- helpers -------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess[str]:
        saved = dict(self.m.env)
        self.m.env.update(env)
        try:
            return self.m.run(*args, timeout=timeout)
        finally:
            self.m.env.clear()
            self.m.env.update(saved)

    def background(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "mooring", *args],
            env={**self.m.env, **env},
            cwd=self.m.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def db(self, query: str, *params: Any) -> list[Any]:
        with sqlite3.connect(self.m.home / "state.db", timeout=10) as db:
            return db.execute(query, params).fetchall()

    def processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                if proc.info["cwd"] == str(self.m.cwd) and "versioned.py" in " ".join(
                    proc.info["cmdline"] or []
                ):
                    found.append(proc)
        return found

    def version_of(self, proc: psutil.Process) -> str | None:
        with contextlib.suppress(psutil.Error):
            return str(proc.environ().get("V", "1"))
        return None

    def served(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for row in json.loads(self.cli("ps", "--app", "rel", "--json").stdout or "[]"):
            if row["service"] != "web" or row["state"] not in ("running", "starting", "backoff"):
                continue
            port = next(iter(row["ports"].values()))
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    out.setdefault(row["replica"], []).append(reply.read().decode())
            except OSError as exc:
                out.setdefault(row["replica"], []).append(f"unreachable ({exc})")
        return out

    def latest(self) -> dict[str, Any] | None:
        """The app's newest release with its targets, as the engine reports it."""
        rows = json.loads(self.cli("history", "--app", "rel", "--json").stdout or "[]")
        if not rows:
            return None
        transport = httpx.HTTPTransport(uds=str(self.m.home / "engine.sock"))
        with httpx.Client(transport=transport, base_url="http://mooring", timeout=30) as client:
            release: dict[str, Any] = client.get(f"/v1/releases/{rows[0]['id']}").json()
        return release

    # --- the trial ---------------------------------------------------------------------------

    def run(self) -> Outcome:
        began = time.monotonic()
        try:
            why = self._run()
        except Exception as exc:  # a check that could not even be made did not hold either
            why = f"{type(exc).__name__}: {exc}"
        finally:
            self.cleanup()
        return Outcome(self.scenario, self.fault, why == "", why, time.monotonic() - began)

    def _run(self) -> str:
        strategy = self.scenario if self.scenario in ("rolling", "canary", "blue_green") else "rolling"
        shutil.copy(APP_SCRIPT, self.m.cwd / "versioned.py")
        self.m.write(
            "mooring.toml",
            manifest(replicas=REPLICAS, parallelism=1, strategy=strategy, timeout="20s", start_period="15s"),
        )
        if self.cli("up", "--json").returncode != 0:
            return "setup: the first up did not complete"
        expected_version = "2"
        if self.scenario == "rollback":
            if self.cli("up", "--json", V="2").returncode != 0:
                return "setup: the second up did not complete"
            op = self.background("rollback", "--app", "rel", "--json")
            expected_version = "1"
        elif self.scenario == "down":
            op = self.background("down", "--app", "rel")
        else:
            op = self.background("up", "--json", V="2")
        self.inject()
        with contextlib.suppress(subprocess.TimeoutExpired):
            op.communicate(timeout=240)
        if op.poll() is None:
            op.kill()
            op.communicate()
        # recover as an operator would: the next call starts an engine, which resumes what was in flight
        self.cli("ps")
        if self.scenario == "down":
            if op.returncode != 0 and self.cli("down", "--app", "rel").returncode != 0:
                return "a second down after the fault did not succeed"
            rows = json.loads(self.cli("ps", "--app", "rel", "--json").stdout or "[]")
            if rows:
                return f"{len(rows)} instances still recorded after down"
            wait_until("no app process", lambda: not self.processes(), 30)
            return ""
        rel = wait_until(
            "the release to settle",
            lambda: (
                (r := self.latest())
                and not r.get("rollout", {}).get("active")
                and r.get("status") not in ("pending", "in_progress")
                and r
            ),
            180,
        )
        if rel.get("status") != "completed":
            return f"release {rel.get('id')} ended {rel.get('status')}: {rel.get('message')}"
        if self.scenario == "rollback" and rel.get("trigger") != "rollback":
            return f"the latest release is a {rel.get('trigger')}, not the rollback"
        states = [t["state"] for t in rel.get("targets", [])]
        if states and sorted(set(states)) != ["ready"]:
            return f"targets of the final release: {states}"
        try:
            wait_until(
                "one process per replica",
                lambda: len(self.processes()) == REPLICAS,
                30,
            )
        except TimeoutError:
            versions = [self.version_of(p) for p in self.processes()]
            return f"{len(versions)} app processes for {REPLICAS} replicas (versions {versions})"
        served = self.served()
        want = {r: [expected_version] for r in range(1, REPLICAS + 1)}
        if served != want:
            return f"replicas serve {served}, expected {want}"
        return ""

    def inject(self) -> None:
        before = self.db("select count(*) from events where type = 'target.starting'")[0][0]
        if self.scenario != "down":
            with contextlib.suppress(TimeoutError):
                wait_until(
                    "the operation to start a target",
                    lambda: (
                        self.db("select count(*) from events where type = 'target.starting'")[0][0] > before
                    ),
                    60,
                )
        time.sleep(self.rng.uniform(0.0, 2.0))  # a random point of the operation
        engine = self.m.engine_pid()
        if self.fault in ("kill9", "sigterm") and engine:
            os.kill(engine, signal.SIGKILL if self.fault == "kill9" else signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                wait_until("the engine to go", lambda: self.m.engine_pid() is None, 30)
        elif self.fault == "sigstop" and engine:
            os.kill(engine, signal.SIGSTOP)
            time.sleep(self.args.freeze)
            os.kill(engine, signal.SIGCONT)
        elif self.fault == "kill_instance":
            old = "1" if self.scenario != "rollback" else "2"
            victims = [p for p in self.processes() if self.version_of(p) == old] or self.processes()
            if victims:
                with contextlib.suppress(psutil.Error):
                    self.rng.choice(victims).kill()
        elif self.fault == "disk_full":
            self.fill_disk()
        elif self.fault == "store_lock":
            subprocess.run(
                [sys.executable, "-c", LOCKER, str(self.m.home / "state.db"), str(self.args.lock)],
                timeout=self.args.lock + 90,
            )

    def fill_disk(self) -> None:
        """Take every free byte of the home's filesystem for --lock seconds, then give them back."""
        assert self.mounted is not None
        filler = self.mounted / "filler"
        with open(filler, "wb", buffering=0) as out:
            free = os.statvfs(self.mounted).f_bavail * os.statvfs(self.mounted).f_frsize
            with contextlib.suppress(OSError):
                os.posix_fallocate(out.fileno(), 0, free)
            with contextlib.suppress(OSError):  # what allocation granularity left
                while out.write(b"\0" * 4096):
                    pass
        time.sleep(self.args.lock)
        filler.unlink()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.cli("down", "--app", "rel", timeout=120)
        pid = self.m.engine_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.mounted is not None:
            subprocess.run(["umount", "-l", str(self.mounted)], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--freeze", type=float, default=30.0, help="seconds of SIGSTOP")
    parser.add_argument("--lock", type=float, default=12.0, help="seconds the store stays write-locked")
    parser.add_argument("--json", dest="json_out", help="also write the outcomes to this file")
    parser.add_argument("--fault", choices=FAULTS, action="append", help="only these faults (repeatable)")
    args = parser.parse_args(argv)
    faults = tuple(args.fault or FAULTS)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    # every fault meets every scenario as evenly as N allows, in a random order
    pairs = [(s, f) for f in faults for s in SCENARIOS]
    rng.shuffle(pairs)
    # round-robin over the faults, so a short campaign still tries each fault (and varied scenarios)
    by_fault = {f: [p for p in pairs if p[1] == f] for f in faults}
    cycle = [by_fault[f][i] for i in range(len(SCENARIOS)) for f in faults]
    plan = [cycle[i % len(cycle)] for i in range(args.trials)]
    print(
        f"chaos: {args.trials} trials, seed {seed}, freeze {args.freeze:g}s, lock {args.lock:g}s", flush=True
    )
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="mooring-chaos-") as tmp:
        for n, (scenario, fault) in enumerate(plan, start=1):
            outcome = Trial(Path(tmp) / f"t{n}", scenario, fault, rng, args).run()
            outcomes.append(outcome)
            mark = "held" if outcome.held else f"DID NOT HOLD: {outcome.why}"
            print(
                f"[{n}/{args.trials}] {scenario:<10} {fault:<13} {outcome.seconds:5.1f}s {mark}", flush=True
            )
    print(summary(outcomes))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    return 0 if all(o.held for o in outcomes) else 1


def summary(outcomes: list[Outcome]) -> str:
    lines = ["", "fault          held/tried", "-------------  ----------"]
    for key, attr in (("fault", FAULTS), ("scenario", SCENARIOS)):
        tried = Counter(getattr(o, key) for o in outcomes)
        held = Counter(getattr(o, key) for o in outcomes if o.held)
        if key == "scenario":
            lines += ["", "scenario       held/tried", "-------------  ----------"]
        lines += [f"{name:<13}  {held[name]}/{tried[name]}" for name in attr if tried[name]]
    total = sum(o.held for o in outcomes)
    lines += ["", f"{total}/{len(outcomes)} trials held"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
