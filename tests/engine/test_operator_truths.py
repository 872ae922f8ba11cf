"""Small truths of the operator's commands: resume --detach, control after an end, one message once,
unknown apps, one meaning per flag, ports as published, validate in one pass."""

from __future__ import annotations

import json

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import manifest, release, setup, up


def test_explain_says_the_probe_once_and_cancel_clears_control(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1, timeout="60s", start_period="60s"))
    up(mooring)
    code, rel = up(mooring, "--detach", V="2", BEHAVIOR="unhealthy")
    assert code == 0

    def probed() -> str | None:  # an HTTP answer, not the refusals of an instance still starting up
        text = mooring.run("status", "--app", "rel", "--explain").stdout
        return text if any("last probe:" in x and "HTTP" in x for x in text.splitlines()) else None

    text = wait_until(probed, what="a probe result of the starting instance in explain")
    line = next(x for x in text.splitlines() if "last probe:" in x)
    assert line.strip() == "last probe: starting, HTTP 503: 2", line

    cancel = mooring.run("rollout", "cancel", "--app", "rel", "--json")
    assert cancel.returncode == 0, cancel.stderr
    final = release(mooring, rel["id"])
    assert final["status"] == "cancelled" and final["rollout"]["control"] == "active", final["rollout"]
    log = (mooring.home / "engine.log").read_text()
    outcome = next(x for x in log.splitlines() if f"release {rel['id']} of rel: cancelled" in x)
    assert "WARNING" not in outcome and "INFO" in outcome, outcome


def test_resume_detach_returns_at_once(mooring: Mooring) -> None:
    flag = mooring.cwd / "broken"
    flag.touch()
    setup(mooring, manifest(replicas=1, timeout="5s"))
    up(mooring)
    code, rel = up(mooring, V="2", BEHAVIOR="unhealthy", FAIL_FLAG=str(flag))
    assert code == 7 and rel["rollout"]["control"] == "paused"
    flag.unlink()
    resumed = mooring.run("rollout", "resume", "--app", "rel", "--detach", "--json")
    assert resumed.returncode == 0, resumed.stderr
    body = json.loads(resumed.stdout)
    assert body["id"] == rel["id"] and body["rollout"]["control"] == "active"
    wait_until(lambda: release(mooring, rel["id"])["status"] == "completed", what="the resumed release")
    text = mooring.run("rollout", "resume", "--app", "rel", "--detach")
    assert text.returncode != 0 and "no release in progress or paused" in text.stderr


def test_an_unknown_app_is_not_found_with_the_known_apps_listed(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1))
    up(mooring)
    for command in (["status"], ["status", "--explain"], ["history"], ["rollback", "--print"]):
        result = mooring.run(*command, "--app", "nosuch")
        assert result.returncode == 10, (command, result.stdout, result.stderr)
        assert "no app named 'nosuch'" in result.stderr and "known apps: rel" in result.stderr, result.stderr


def test_minus_f_is_the_manifest_everywhere_and_a_misplaced_path_names_the_flag(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1))
    mooring.write("mooring.toml", (mooring.cwd / "mooring.toml").read_text().replace('"rel"', '"other"'))
    mooring.cwd.joinpath("sub").mkdir()
    (mooring.cwd / "sub" / "rel.toml").write_text(manifest(replicas=1))
    (mooring.cwd / "sub" / "versioned.py").write_text((mooring.cwd / "versioned.py").read_text())
    assert mooring.run("up", "-f", "sub/rel.toml").returncode == 0
    # the same -f names the manifest (so the app) in events and logs as in up
    events = mooring.run("events", "-f", "sub/rel.toml")
    assert events.returncode == 0 and "release.completed" in events.stdout, events.stderr
    logs = mooring.run("logs", "web", "-f", "sub/rel.toml")
    assert logs.returncode == 0 and "version 1 replica 1" in logs.stdout, logs.stderr

    wrong = mooring.run("events", "--follow", "sub/rel.toml")
    assert wrong.returncode == 1 and "give it with -f/--file sub/rel.toml" in wrong.stderr, wrong.stderr
    wrong = mooring.run("logs", "sub/rel.toml")
    assert wrong.returncode == 1 and "give the manifest with -f/--file sub/rel.toml" in wrong.stderr
    wrong = mooring.run("up", "sub/rel.toml")
    assert wrong.returncode == 1 and "looks like a manifest path" in wrong.stderr


def test_ps_shows_the_published_host_port_and_the_instance_port_beside_it(mooring: Mooring) -> None:
    from tests.engine.conftest import free_port

    host_port = free_port()
    text = manifest(replicas=1).replace('ports = ["8000"]', f'ports = ["127.0.0.1:{host_port}:8000", "9000"]')
    setup(mooring, text)
    assert up(mooring)[0] == 0
    [row] = mooring.ps("rel")
    assert row["published"] == {"8000": f"127.0.0.1:{host_port}"}
    actual = row["ports"]["8000"]
    table = mooring.run("ps", "--app", "rel", check=True).stdout
    assert f"127.0.0.1:{host_port}->8000 (instance :{actual})" in table, table
    assert f"9000 (instance :{row['ports']['9000']})" in table, table


def test_ps_shows_the_published_port_of_the_new_live_release_after_a_change(mooring: Mooring) -> None:
    # the engine keeps the published ports of the live release between listings: a release must renew them
    from tests.engine.conftest import free_port

    first, second = free_port(), free_port()
    text = manifest(replicas=1).replace('ports = ["8000"]', f'ports = ["127.0.0.1:{first}:8000"]')
    setup(mooring, text)
    assert up(mooring)[0] == 0
    [row] = mooring.ps("rel")
    assert row["published"] == {"8000": f"127.0.0.1:{first}"}
    setup(mooring, text.replace(f"127.0.0.1:{first}:8000", f"127.0.0.1:{second}:8000"))
    assert up(mooring)[0] == 0
    rows = mooring.ps("rel")
    assert [r["published"] for r in rows] == [{"8000": f"127.0.0.1:{second}"}], rows


def test_validate_reports_every_problem_in_one_pass(mooring: Mooring) -> None:
    mooring.write(
        "mooring.toml",
        """
[app]
name = "v"
[service.web]
command = "x"
replicas = 0
depends_on = ["nosuch"]
[service.api]
command = "y"
ports = ["8080:80"]
bogus = 1
[service.db]
command = "z"
ports = ["8080:81"]
[service.nothing]
replicas = 2
[service.uses]
command = "w"
depends_on = ["nothing"]
""",
    )
    result = mooring.run("validate", "--json")
    assert result.returncode == 2, result.stderr
    keys = [e["key"] for e in json.loads(result.stdout)["errors"]]
    assert keys == [
        "service.web.replicas",
        "service.api.bogus",
        "service.nothing",
        "service.web.depends_on[0]",
        "service.db.ports[0]",
    ], keys  # the dropped service `nothing` is not also reported as an unknown dependency
