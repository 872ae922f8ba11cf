"""A store written by the last main that landed (8801190: schema 0003, no secrets, no triggers of
down, no source digests) opens with this code: its migrations run, its releases display, and a
rollback to one of them runs what it recorded.

The fixture was made by that commit's own CLI (``mooring up`` of v1, of v2, then ``down``) in the
working directory its snapshots name, which this test recreates.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

from tests.engine.conftest import Mooring, mooring, wait_until  # noqa: F401 - the per-test engine fixture

FIXTURE = Path(__file__).parent / "fixtures" / "store-8801190.db"
WORKDIR = Path("/tmp/mooring-compat-8801190/work")  # the working_dir its snapshots recorded
SERVER = """\
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["V"].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def answers(m: Mooring) -> list[str]:
    out = []
    for row in m.ps("legacy"):
        if row["state"] == "running":
            port = next(iter(row["ports"].values()))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                out.append(reply.read().decode())
    return sorted(out)


def test_a_store_of_the_previous_main_opens_shows_its_releases_and_rolls_back(mooring: Mooring) -> None:  # noqa: F811
    mooring.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, mooring.home / "state.db")
    os.chmod(mooring.home / "state.db", 0o600)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    (WORKDIR / "server.py").write_text(SERVER)
    try:
        history = json.loads(mooring.run("history", "--app", "legacy", "--json", check=True).stdout)
        assert [(h["number"], h["status"], h["trigger"]) for h in history] == [
            (2, "completed", "apply"),
            (1, "completed", "apply"),
        ], history
        first = history[-1]["id"]
        shown = json.loads(mooring.run("history", first, "--app", "legacy", "--json", check=True).stdout)
        assert [e["type"] for e in shown][:2] == ["release.created", "release.started"], shown[:3]
        text = mooring.run("history", "--app", "legacy", check=True).stdout
        assert first in text and "prev-ok" in text, text

        result = mooring.run("rollback", "--app", "legacy", "--release", first, "--json", timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        release = json.loads(result.stdout)
        assert release["status"] == "completed" and release["trigger"] == "rollback", release
        assert release["source_release_id"] == first
        wait_until(lambda: answers(mooring) == ["v1", "v1"], what="both replicas to serve v1 again")
        mooring.run("down", "--app", "legacy", check=True)
    finally:
        shutil.rmtree(WORKDIR.parent, ignore_errors=True)
