"""The stdlib client's request target: a query written into the path is kept (httpx keeps it)."""

from __future__ import annotations

from mooring.client.local import _target


def test_a_query_in_the_path_is_kept_and_params_join_it() -> None:
    assert _target("/v1/notify/deliveries?limit=5", None) == "/v1/notify/deliveries?limit=5"
    assert _target("/v1/x?a=1", {"b": True}) == "/v1/x?a=1&b=true"
    assert _target("/v1/apps/a b/logs", {"n": 3}) == "/v1/apps/a%20b/logs?n=3"
