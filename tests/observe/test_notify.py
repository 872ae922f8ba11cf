"""Signed webhooks: one delivery per release outcome with a valid signature, retries, and a dead
receiver that never delays a release."""

from __future__ import annotations

import json
import time

from tests.engine.conftest import Mooring, free_port, wait_until
from tests.engine.releases_kit import manifest, setup, up
from tests.observe.receiver import black_hole, receiver

SECRET = "s3cret-for-tests"


def configure(mooring: Mooring, *hooks: str) -> None:
    mooring.home.mkdir(parents=True, exist_ok=True)
    (mooring.home / "engine.toml").write_text("\n".join(hooks))


def hook(url: str, **keys: object) -> str:
    lines = ["[[notify.webhook]]", f'url = "{url}"', f'secret = "{SECRET}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def deliveries(mooring: Mooring) -> list[dict]:
    log = json.loads(mooring.run("notify", "log", "--json", check=True).stdout)
    return list(reversed(log["deliveries"]))  # oldest first


def test_each_release_outcome_gets_one_signed_delivery(mooring: Mooring) -> None:
    with receiver() as got:
        configure(mooring, hook(got.url, name="ops"))
        setup(
            mooring,
            manifest(
                replicas=2, strategy="canary", failure_action="rollback", timeout="3s", start_period="3s"
            ),
        )
        assert up(mooring)[0] == 0
        code, failed = up(mooring, V="2", BEHAVIOR="crash")
        assert code == 5 and failed["status"] == "rolled_back"
        wanted = ["release.completed", "release.rolling_back", "release.rolled_back"]
        wait_until(lambda: len(got.received) >= 3, what="three deliveries")
        wait_until(
            lambda: [d["state"] for d in deliveries(mooring)] == ["delivered"] * 3,
            what="the delivery log to show three deliveries",
        )
        assert got.events() == wanted, got.events()
        first, rolling, rolled = (r.json for r in got.received)
        for r in got.received:
            assert r.signature_valid(SECRET), r.headers
            assert not r.signature_valid("another secret")
            assert abs(int(r.headers["x-mooring-timestamp"]) - time.time()) < 120
            assert r.headers["x-mooring-event"] == r.json["event"]
            assert r.headers["x-mooring-attempt"] == "1"
            assert r.json["app"] == "rel"
        assert first["release"]["status"] == "completed" and first["release"]["number"] == 1
        assert first["release"]["targets"]["ready"] == 2 and first["release"]["duration_seconds"] > 0
        assert rolled["release"]["id"] == failed["id"] and rolled["release"]["status"] == "rolled_back"
        assert rolling["release"]["id"] == failed["id"]
        log = deliveries(mooring)
        assert [(d["webhook"], d["event"], d["release_id"]) for d in log] == [
            ("ops", e, r["release"]["id"]) for e, r in zip(wanted, (first, rolling, rolled), strict=True)
        ]
        assert {d["delivery"] for d in log} == {r.headers["x-mooring-delivery"] for r in got.received}
        table = mooring.run("notify", "log", check=True).stdout
        assert "release.rolled_back" in table and "delivered" in table


def test_a_failing_receiver_gets_retries_with_backoff_until_it_answers(mooring: Mooring) -> None:
    with receiver() as flaky, receiver() as broken:
        flaky.answer = lambda n: 503 if n <= 2 else 204
        broken.answer = lambda n: 500
        configure(
            mooring,
            hook(flaky.url, name="flaky", backoff="200ms", max_attempts=4, events=["release.completed"]),
            hook(broken.url, name="broken", backoff="100ms", max_attempts=3, events=["release.completed"]),
        )
        setup(mooring, manifest(replicas=1, start_period="10s"))
        assert up(mooring)[0] == 0
        wait_until(lambda: len(flaky.received) == 3, what="three attempts at the flaky receiver")
        wait_until(lambda: len(broken.received) == 3, what="three attempts at the broken receiver")
        ids = {r.headers["x-mooring-delivery"] for r in flaky.received}
        assert len(ids) == 1, "a retry is the same delivery"
        assert [r.headers["x-mooring-attempt"] for r in flaky.received] == ["1", "2", "3"]
        assert all(r.signature_valid(SECRET) for r in flaky.received + broken.received)

        def ended() -> list[dict]:
            found = deliveries(mooring)
            return found if sorted(d["state"] for d in found) == ["delivered", "failed"] else []

        log = {d["webhook"]: d for d in wait_until(ended, what="both deliveries to end")}
        assert [a["state"] for a in log["flaky"]["attempts"]] == ["retrying", "retrying", "delivered"]
        assert [a["http_status"] for a in log["flaky"]["attempts"]] == [503, 503, 204]
        gaps = [
            b["at"] - a["at"]
            for a, b in zip(log["flaky"]["attempts"], log["flaky"]["attempts"][1:], strict=False)
        ]
        assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps  # backoff doubles
        assert [a["state"] for a in log["broken"]["attempts"]] == ["retrying", "retrying", "failed"]
        assert "HTTP 500" in log["broken"]["attempts"][-1]["error"]
        # no more attempts once it gave up
        assert len(broken.received) == 3


def test_a_dead_receiver_never_delays_a_release(mooring: Mooring) -> None:
    closed_port = free_port()
    with black_hole() as hole:
        configure(
            mooring,
            hook(hole, name="hole", timeout="60s", max_attempts=3),
            hook(f"http://127.0.0.1:{closed_port}/hook", name="closed", backoff="30s", max_attempts=3),
        )
        setup(mooring, manifest(replicas=2, start_period="10s"))
        started = time.monotonic()
        code, first = up(mooring)
        code2, second = up(mooring, V="2")
        took = time.monotonic() - started
        assert code == 0 and code2 == 0, (first, second)
        # two releases, each of which a blocking delivery would have held for 60 s
        assert took < 40, f"two releases took {took:.1f}s with a dead webhook receiver"
        log = {(d["webhook"], d["release_id"]): d for d in deliveries(mooring)}
        closed = log[("closed", first["id"])]
        assert closed["state"] == "retrying" and "ConnectError" in closed["attempts"][0]["error"]
        assert ("hole", first["id"]) not in log  # its first attempt still waits for an answer


def test_a_failure_that_pauses_is_told_once_as_its_outcome_and_a_failed_cron_is_told(
    mooring: Mooring,
) -> None:
    with receiver() as got, receiver() as pauses:
        configure(
            mooring, hook(got.url, name="all"), hook(pauses.url, name="pauses", events=["release.paused"])
        )
        cron = '\n[cron.broken]\ncommand = ["sh", "-c", "exit 4"]\nevery = "1s"\n'
        setup(
            mooring, manifest(replicas=2, parallelism=1, timeout="3s", extra_service=cron, start_period="3s")
        )
        assert up(mooring)[0] == 0
        code, failed = up(mooring, V="2", BEHAVIOR="crash")
        assert code != 0 and failed["status"] == "failed" and failed["rollout"]["control"] == "paused", failed
        wait_until(lambda: "release.failed" in got.events(), what="the failure's delivery")
        wait_until(lambda: "cron.failed" in got.events(), what="a failed cron run's delivery")
        wait_until(lambda: pauses.events(), what="the pause-only webhook's delivery")
        # the failure that paused is one delivery per webhook: its outcome, or the pause if that is all it wants
        releases = [r.json for r in got.received if r.json["event"].startswith("release.")]
        assert [(r["event"], r["release"]["id"]) for r in releases][-1] == ("release.failed", failed["id"])
        assert [r["event"] for r in releases].count("release.failed") == 1
        assert "release.paused" not in [r["event"] for r in releases]
        assert [(r.json["event"], r.json["release"]["id"]) for r in pauses.received] == [
            ("release.paused", failed["id"])
        ]
        assert releases[-1]["release"]["control"] == "paused"
        cron_body = next(r.json for r in got.received if r.json["event"] == "cron.failed")
        assert cron_body["release"] is None
        assert cron_body["details"]["cron"] == "broken" and cron_body["details"]["outcome"] == "failed"
        assert cron_body["details"]["exit_code"] == 4
