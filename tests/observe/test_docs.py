"""The docs' examples are the real thing: every metric the Grafana dashboard uses is documented and
served, and the engine.toml of docs/notify.md loads."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mooring.engine.notify_config import NOTIFY_EVENTS, parse_notify
from tests.engine.conftest import Mooring
from tests.engine.releases_kit import manifest, setup, up
from tests.observe.kit import local_get

DOCS = Path(__file__).resolve().parents[2] / "docs"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def family(name: str) -> str:
    """The family a sample name belongs to, as the Prometheus parser names it."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def grafana_metrics() -> set[str]:
    board = json.loads((DOCS / "grafana-mooring.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs.append(board["templating"]["list"][0]["query"]["query"])
    return {m for e in exprs for m in re.findall(r"\bmooring_[a-z_]+", e)}


def documented_metrics() -> set[str]:
    return set(re.findall(r"^\| `(mooring_[a-z_]+)` \|", (DOCS / "metrics.md").read_text(), re.M))


def test_the_grafana_dashboard_uses_only_documented_metrics_and_the_engine_serves_them(
    mooring: Mooring,
) -> None:
    documented = documented_metrics()
    assert len(documented) >= 20
    used = grafana_metrics()
    assert used, "the dashboard queries no metric"
    undocumented = {
        m for m in used if m not in documented and family(m) not in {family(d) for d in documented}
    }
    assert not undocumented, (
        f"the Grafana dashboard uses metrics docs/metrics.md does not list: {undocumented}"
    )

    setup(mooring, manifest(replicas=1, start_period="10s"))
    assert up(mooring)[0] == 0
    reply = local_get(mooring.home, "/metrics")
    served = {f.name for f in text_string_to_metric_families(reply.text)}
    missing = {d for d in documented if family(d) not in served}
    assert not missing, f"docs/metrics.md lists metrics the engine does not serve: {missing}"


def test_the_engine_toml_of_docs_notify_md_loads() -> None:
    text = (DOCS / "notify.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[[notify.webhook]]" in b)
    config = parse_notify(
        tomllib.loads(block)["notify"], "docs/notify.md", env={"MOORING_WEBHOOK_SECRET": "x"}
    )
    assert [w.name for w in config.webhooks] == ["ops-chat", "audit"]
    assert config.webhooks[1].apps == frozenset({"shop"}) and config.webhooks[1].max_attempts == 10
    assert config.webhooks[0].max_attempts == 5 and config.queue == 1000
    events_table = set(re.findall(r"^\| `([a-z_.]+)` \| ", text, re.M))
    assert events_table == set(NOTIFY_EVENTS)
