"""Run every benchmark in bench/ and write one report: bench/results/<date>.json, <date>.md and PNG plots.

A benchmark is any ``bench/*_bench.py`` that follows the convention in docs/performance.md: it runs
as ``python bench/<name>_bench.py [--smoke] [--json PATH]`` and writes one result of the shared
shape. The suite runs them one after another (they measure the machine; running two at once would
measure each other), checks each result's shape, and fails if a benchmark fails or yields no numbers.

    .venv/bin/python bench/suite.py            # full sizes (make bench)
    .venv/bin/python bench/suite.py --smoke    # tiny N: asserts that every benchmark runs (make bench-smoke)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets
from benchkit import BENCH_DIR, best_peer, fmt, ratio

UNITS = {"s", "ms", "req/s", "%", "MiB"}


def discover() -> list[Path]:
    return sorted(BENCH_DIR.glob("*_bench.py"))


def shape_errors(result: Any, name: str) -> list[str]:
    """What is wrong with one benchmark's result, by the convention; empty when it is well formed."""
    if (
        not isinstance(result, dict)
        or result.get("bench") is None
        or not isinstance(result.get("scenarios"), list)
    ):
        return [f"{name}: the result needs 'bench' and a list of 'scenarios'"]
    errors = []
    if not result["scenarios"]:
        errors.append(f"{name}: no scenarios")
    for i, s in enumerate(result["scenarios"]):
        where = f"{name}: scenarios[{i}] ({s.get('name', '?')}, N={s.get('n')})"
        if s.get("unit") not in UNITS:
            errors.append(f"{where}: unit {s.get('unit')!r} is not one of {sorted(UNITS)}")
        if s.get("better") not in ("lower", "higher"):
            errors.append(f"{where}: better must be 'lower' or 'higher'")
        figures = [("mooring", s.get("mooring"))]
        figures += [("floor", s["floor"])] if s.get("floor") else []
        figures += [(f"peers.{p}", f) for p, f in (s.get("peers") or {}).items()]
        for label, fig in figures:
            if not isinstance(fig, dict) or not all(
                isinstance(fig.get(k), int | float) and math.isfinite(fig[k]) for k in ("min", "median")
            ):
                errors.append(f"{where}: {label} needs finite numbers 'min' and 'median', got {fig!r}")
    return errors


def run_one(script: Path, smoke: bool, out: Path, timeout: float) -> tuple[dict[str, Any] | None, str, float]:
    argv = [sys.executable, str(script), "--json", str(out), *(["--smoke"] if smoke else [])]
    print(f"--> {' '.join(argv[1:])}", flush=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"{script.name}: did not finish within {timeout:.0f}s", time.perf_counter() - started
    elapsed = time.perf_counter() - started
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        return None, f"{script.name}: exited {proc.returncode}:\n{proc.stderr[-4000:]}", elapsed
    if not out.exists():
        return None, f"{script.name}: exited 0 but wrote no result to {out}", elapsed
    return json.loads(out.read_text()), "", elapsed


def markdown_table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | N | unit | mooring min / median | floor | × floor | best peer | × best peer | all peers (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["scenarios"]:
        med = s["mooring"]["median"]
        floor = s["floor"]["median"] if s["floor"] else None
        peer = best_peer(s)
        floor_cell = f"{fmt(floor)} ({s['floor']['label']})" if floor is not None else "-"
        everyone = ", ".join(f"{p} {fmt(f['median'])}" for p, f in sorted((s.get("peers") or {}).items()))
        lines.append(
            f"| {s['name']} | {s['n'] if s['n'] is not None else '-'} | {s['unit']} | "
            f"{fmt(s['mooring']['min'])} / **{fmt(med)}** | "
            f"{floor_cell} | {ratio(med, floor)} | "
            f"{f'{peer[0]} {fmt(peer[1])}' if peer else '-'} | {ratio(med, peer[1] if peer else None)} | {everyone or '-'} |"
        )
    return lines


def plot(result: dict[str, Any], path: Path) -> bool:
    """One PNG per benchmark: a panel per scenario measured at several N, cost against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in result["scenarios"]:
        if s["n"] is not None:
            by_name.setdefault(s["name"], []).append(s)
    panels = {k: sorted(v, key=lambda s: s["n"]) for k, v in by_name.items() if len(v) >= 2}
    if not panels:
        return False
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, (name, series) in zip(axes.flat, panels.items(), strict=False):
        ns = [s["n"] for s in series]
        ax.plot(
            ns, [s["mooring"]["median"] for s in series], "o-", label="mooring", linewidth=2.5, color="C0"
        )
        floors = [(s["n"], s["floor"]["median"]) for s in series if s["floor"]]
        if floors:
            ax.plot(*zip(*floors, strict=True), "k--", label=f"floor: {series[0]['floor']['label']}")
        peers = sorted({p for s in series for p in s.get("peers") or {}})
        for i, peer in enumerate(peers):
            pts = [(s["n"], s["peers"][peer]["median"]) for s in series if peer in (s.get("peers") or {})]
            ax.plot(*zip(*pts, strict=True), "s:", label=peer, color=f"C{i + 1}")
        ax.set_xscale("log")
        values = [v for line in ax.get_lines() for v in line.get_ydata() if v > 0]
        if values and max(values) / min(values) > 50:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("N")
        ax.set_ylabel(series[0]["unit"] + (" (lower is better)" if series[0]["better"] == "lower" else ""))
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"{result['bench']}: median cost against N", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "?",
    )
    return {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "loadavg_at_start": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny N: check that every benchmark runs")
    parser.add_argument(
        "--out", type=Path, help="results directory (default bench/results, smoke: a temp dir)"
    )
    parser.add_argument("--only", help="comma-separated benchmark names (engine,rollout,...)")
    args = parser.parse_args()
    scripts = discover()
    if args.only:
        wanted = set(args.only.split(","))
        scripts = [s for s in scripts if s.name.removesuffix("_bench.py") in wanted]
    if not scripts:
        raise SystemExit(f"no benchmark matched in {BENCH_DIR} (looked for *_bench.py)")
    out_dir = args.out or (
        Path(tempfile.mkdtemp(prefix="mooring-bench-smoke-")) if args.smoke else BENCH_DIR / "results"
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    run_dir = out_dir / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results, failures, durations = [], [], {}
    for script in scripts:
        name = script.name.removesuffix("_bench.py")
        result, error, elapsed = run_one(
            script, args.smoke, run_dir / f"{name}.json", 300 if args.smoke else 1800
        )
        durations[name] = round(elapsed, 1)
        if result is not None:
            errors = shape_errors(result, script.name)
            if errors:
                error = "\n".join(errors)
            else:
                results.append(result)
        if error:
            failures.append(error)
            print(f"FAILED {error}", file=sys.stderr, flush=True)
    report = {
        "date": stamp,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "machine": machine(),
        "seconds_per_bench": durations,
        "benches": results,
        "failures": failures,
    }
    (out_dir / f"{stamp}.json").write_text(json.dumps(report, indent=1))
    md = [
        f"# mooring benchmarks, {stamp}{' (smoke: tiny N, numbers mean nothing)' if args.smoke else ''}",
        "",
        f"Machine: {report['machine']['cpus']} CPUs ({report['machine']['cpu']}), kernel {report['machine']['kernel']}, "
        f"Python {report['machine']['python']}; load average at start {report['machine']['loadavg_at_start'][0]:.2f}. "
        f"Seconds per benchmark: {durations}.",
        "",
        "Ratios are mooring's median over the floor's and over the best peer's median (> 1: mooring costs more, for "
        "lower-is-better figures). Method: docs/performance.md.",
    ]
    for result in results:
        md += ["", f"## {result['bench']}", ""]
        if result.get("notes"):
            md += [f"Note: {result['notes']}.", ""]
        md += markdown_table(result)
        png = run_dir / f"{result['bench']}.png"
        if plot(result, png):
            md += ["", f"![{result['bench']}]({png.relative_to(out_dir)})"]
    md += ["", "## Against the targets", "", *targets.markdown(results)]
    if failures:
        md += ["", "## Failures", "", *[f"```\n{f}\n```" for f in failures]]
    (out_dir / f"{stamp}.md").write_text("\n".join(md) + "\n")
    print(f"report: {out_dir / f'{stamp}.md'} and {out_dir / f'{stamp}.json'}")
    if failures:
        raise SystemExit(f"{len(failures)} benchmark(s) failed:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
