"""The web dashboard in a real headless Chromium: sign in with a token, watch a rollout's targets turn
ready live (over the event stream), pause and resume it from the page, see the final status."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.engine.conftest import wait_until
from tests.engine.releases_kit import manifest, setup
from tests.observe.browser import chromium
from tests.remote.conftest import Served

# MOORING_SCREENSHOTS=docs/img keeps the screenshots (the README's pictures come from this test).
SHOTS = os.environ.get("MOORING_SCREENSHOTS")
T = TypeVar("T")


def fresh(read: Callable[[], T]) -> T:
    """Read again if the page re-rendered the element between finding and reading it."""
    for _ in range(20):
        try:
            return read()
        except StaleElementReferenceException:
            continue
    return read()


def text(driver: WebDriver, css: str) -> str:
    return fresh(lambda: str(driver.find_element(By.CSS_SELECTOR, css).text))


def attr(driver: WebDriver, css: str, name: str) -> str | None:
    def read() -> str | None:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].get_attribute(name) if found else None

    return fresh(read)


def shot(driver: WebDriver, tmp: Path, name: str) -> None:
    for where in filter(None, (tmp, Path(SHOTS) if SHOTS else None)):
        where.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(where / f"dashboard-{name}.png"))


def until(driver: WebDriver, check: Callable[[], object], what: str, timeout: float = 30) -> None:
    def safe() -> object:
        try:
            return check()
        except Exception:  # the page re-rendered the element between find and read
            return False

    try:
        wait_until(safe, timeout=timeout, what=what)
    except AssertionError:
        logs = driver.get_log("browser") if hasattr(driver, "get_log") else []
        raise AssertionError(f"{what}; browser log: {logs}") from None


def click(driver: WebDriver, css: str) -> None:
    """Click once the element is there; the page re-renders on events, so a found element may go stale."""

    def clicked() -> bool:
        driver.find_element(By.CSS_SELECTOR, css).click()
        return True

    until(driver, clicked, f"to click {css}")


def data_states(driver: WebDriver) -> list[str | None]:
    return fresh(
        lambda: [
            t.get_attribute("data-state") for t in driver.find_elements(By.CSS_SELECTOR, "#batches .target")
        ]
    )


def test_dashboard_watches_pauses_and_resumes_a_rollout(served: Served, tmp_path: Path) -> None:
    base = f"http://{served.address}"
    # the page's shell loads without a token; nothing else does
    shell = httpx.get(f"{base}/ui/", timeout=10)
    assert shell.status_code == 200 and "connect-src 'self'" in shell.headers["content-security-policy"]
    assert httpx.get(f"{base}/ui/app.js", timeout=10).headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{base}/ui/../metrics", timeout=10).status_code in (401, 404)
    for path in ("/v1/apps", "/v1/apps/rel/events", "/metrics", "/v1/session"):
        assert httpx.get(base + path, timeout=10).status_code == 401, path

    setup(served.host, manifest(replicas=4, parallelism=1, delay="1500ms", start_period="10s"))
    served.host.run("up", check=True)  # the first release, to have history
    writer = served.token("write", name="dashboard")

    with chromium(tmp_path / "profile") as driver:
        driver.get(f"{base}/ui/")
        until(driver, lambda: driver.find_element(By.ID, "token").is_displayed(), "the sign-in form")
        driver.find_element(By.ID, "token").send_keys("mooring_wrong")
        driver.find_element(By.ID, "login").click()
        until(driver, lambda: "not recognised" in text(driver, "#login-error"), "a refused token to say so")
        shot(driver, tmp_path, "login")
        driver.find_element(By.ID, "token").clear()
        driver.find_element(By.ID, "token").send_keys(writer)
        driver.find_element(By.ID, "login").click()
        until(
            driver, lambda: driver.find_elements(By.CSS_SELECTOR, "a.app-link[data-app=rel]"), "the app list"
        )
        assert "dashboard (write)" in text(driver, "#who")
        assert text(driver, "#apps-table tr[data-app=rel] .status") == "completed"
        shot(driver, tmp_path, "apps")

        click(driver, "a.app-link[data-app=rel]")
        until(driver, lambda: text(driver, "#live") == "● live", "the event stream to connect")
        until(
            driver,
            lambda: attr(driver, "#target-web-4", "data-state") == "ready",
            "the first release's targets",
        )
        first = text(driver, "#release-number")

        # a second release, started elsewhere: the page follows it without a reload
        served.host.env["V"] = "2"
        served.host.run("up", "--detach", check=True)
        until(driver, lambda: text(driver, "#release-number") != first, "the new release to show")
        until(driver, lambda: text(driver, "#release-status") == "in_progress", "the release in progress")
        until(
            driver, lambda: attr(driver, "#target-web-1", "data-state") == "ready", "web-1 to turn ready live"
        )
        assert attr(driver, "#target-web-4", "data-state") == "pending"
        assert driver.find_elements(By.CSS_SELECTOR, "#events li[data-type='target.ready']")
        shot(driver, tmp_path, "rollout")

        click(driver, "#btn-pause")
        until(driver, lambda: text(driver, "#control-state") == "paused", "the pause to show")
        until(driver, lambda: text(driver, "#rollout-state") == "blocked", "the rollout to block")
        until(driver, lambda: driver.find_element(By.ID, "explain-card").is_displayed(), "the explanation")
        assert "operator" in text(driver, "#explain")
        until(driver, lambda: data_states(driver).count("ready") < 4, "targets left while paused")
        shot(driver, tmp_path, "paused")

        click(driver, "#btn-resume")
        until(driver, lambda: text(driver, "#control-state") == "active", "the resume to show")
        until(driver, lambda: text(driver, "#release-status") == "completed", "the final status", timeout=60)
        states = [
            t.get_attribute("data-state") for t in driver.find_elements(By.CSS_SELECTOR, "#batches .target")
        ]
        assert states == ["ready"] * 4, states
        assert driver.find_elements(By.CSS_SELECTOR, "#events li[data-type='release.completed']")

        click(driver, "#history tr .timeline-btn")
        until(
            driver,
            lambda: driver.find_elements(By.CSS_SELECTOR, "#timeline li[data-type='release.paused']"),
            "the timeline",
        )
        types = [
            li.get_attribute("data-type") for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li")
        ]
        assert (
            types.index("release.paused")
            < types.index("release.resume_requested")
            < types.index("release.completed")
        )
        driver.execute_script("document.getElementById('history').scrollIntoView()")
        shot(driver, tmp_path, "history")


def test_a_read_token_sees_no_controls(served: Served, tmp_path: Path) -> None:
    setup(served.host, manifest(replicas=1, start_period="10s"))
    served.host.run("up", check=True)
    reader = served.token("read", name="viewer")
    with chromium(tmp_path / "profile") as driver:
        driver.get(f"http://{served.address}/ui/#/app/rel")
        driver.find_element(By.ID, "token").send_keys(reader)
        driver.find_element(By.ID, "login").click()
        until(driver, lambda: text(driver, "#release-status") == "completed", "the app view")
        assert not driver.find_element(By.ID, "controls").is_displayed()
        assert "viewer (read)" in text(driver, "#who")
