"""``run-worker``: run a worker (or a cron) of the app's live release once now, print its output, and
exit with its exit code."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import ManifestFile

EXIT_TIMED_OUT = 124  # as timeout(1) does
EXIT_COULD_NOT_START = 125  # as docker run does when the container cannot start
WAIT_SLICE = 60.0  # seconds per long poll of the run's outcome


def register(app: typer.Typer) -> None:
    app.command("run-worker")(run_worker)


def exit_code_of(run: dict[str, object]) -> int:
    """0 on success; the run's own non-zero code; 124 when it timed out; 125 when it could not start."""
    outcome, code = run["outcome"], run["exit_code"]
    if outcome == "succeeded":
        return 0
    if outcome == "timed_out":
        return EXIT_TIMED_OUT
    if outcome == "could_not_start":
        return EXIT_COULD_NOT_START
    return code if isinstance(code, int) and 0 < code < 256 else 1


def run_worker(
    name: Annotated[str, typer.Argument(help="A [worker.NAME] or [cron.NAME] of the app's live release.")],
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    server: ServerOption = None,
) -> int:
    """Run a worker (or a cron) once now, print its output as it comes, exit with its exit code."""
    from mooring.cli.output import err, out

    app_name = resolve_app(app, file)
    client = engine_client(server)
    run = client.post(f"/v1/apps/{app_name}/workers/{name}/run")
    iid = run["instance_id"]
    if run["outcome"] is None:
        err.print(f"{run['kind']} {name} of {app_name} runs as {iid}", style="dim", markup=False)
        for line in client.stream_lines(f"/v1/apps/{app_name}/runs/{iid}/output"):
            stream, _, text = line.partition(" ")
            if stream in ("stdout", "stderr"):  # the engine's own lines ("mooring ...") say what the end says
                (out if stream == "stdout" else err).print(
                    text, markup=False, highlight=False, soft_wrap=True
                )
        while run["outcome"] is None:
            run = client.get(f"/v1/apps/{app_name}/runs/{iid}/wait", timeout=WAIT_SLICE)
    code = exit_code_of(run)
    detail = f": {run['error']}" if run["error"] else ""
    where = f" (mooring logs {name} --app {app_name})" if iid else ""
    err.print(f"{run['kind']} {name} {run['outcome']}, exit code {code}{detail}{where}", markup=False)
    return code
