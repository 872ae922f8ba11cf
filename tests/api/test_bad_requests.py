"""Bad requests get 4xx answers that match the published schema, never a 500 (issue 17, item 6)."""

from __future__ import annotations

import json

import httpx

from tests.api.test_openapi_fuzz import engine_url

__all__ = ["engine_url"]


def test_json_nested_too_deep_is_a_400_not_a_500(engine_url: str) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    for path in ("/v1/apps/deep/releases", "/v1/apps/deep/plan"):
        reply = httpx.post(engine_url + path, json={"snapshot": deep}, timeout=30)
        assert reply.status_code == 400, (path, reply.status_code, reply.text[:300])
        assert reply.json()["code"] == "usage_error"
        assert "nested too deeply" in reply.json()["message"]
    body = '{"snapshot": "{}", "secrets": ' + "[" * 200_000 + "]" * 200_000 + "}"
    reply = httpx.post(
        engine_url + "/v1/apps/deep/plan",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert reply.status_code in (400, 422), (reply.status_code, reply.text[:300])


def test_405_says_which_methods_are_allowed(engine_url: str) -> None:
    reply = httpx.delete(engine_url + "/v1/engine", timeout=10)
    assert reply.status_code == 405
    assert reply.headers.get("allow") == "GET"
    reply = httpx.get(engine_url + "/v1/apps/x/down", timeout=10)
    assert reply.status_code == 405
    assert reply.headers.get("allow") == "POST"


def test_the_schema_refuses_what_the_engine_refuses(engine_url: str) -> None:
    schema = httpx.get(engine_url + "/openapi.json", timeout=10).json()
    up = schema["components"]["schemas"]["UpRequest"]["properties"]["snapshot"]
    assert up["minLength"] == 2
    events = schema["paths"]["/v1/apps/{app_name}/events"]["get"]["parameters"]
    header = next(p for p in events if p["name"].lower() == "last-event-id")
    assert header["schema"]["anyOf"][0]["pattern"] == "^[0-9]{1,19}$"
    # the empty snapshot and a non-numeric Last-Event-ID are refused as invalid requests (declared 422)
    reply = httpx.post(engine_url + "/v1/apps/x/releases", json={"snapshot": ""}, timeout=10)
    assert reply.status_code == 422, reply.text
    reply = httpx.get(
        engine_url + "/v1/apps/x/events",
        params={"follow": "false"},
        headers={"Last-Event-ID": "abc"},
        timeout=10,
    )
    assert reply.status_code == 422, reply.text
    assert json.loads(reply.text)["code"] == "bad_request"
