"""Helpers of the observation tests: scrape /metrics and read it with Prometheus' own parser."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def local_get(home: Path, path: str) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=str(home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring", timeout=30) as client:
        return client.get(path)


def samples(text: str) -> list[Sample]:
    """Every sample of an exposition, parsed (not string-matched)."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(s.value for s in found if s.name == name and labels.items() <= s.labels.items())


def scrape(home: Path) -> list[Sample]:
    reply = local_get(home, "/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(reply.text)
