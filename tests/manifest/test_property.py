"""Arbitrary documents and values never make the loader raise anything but ManifestError, nor hang."""

from __future__ import annotations

import datetime as dt
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mooring.manifest import LoadedManifest, ManifestError, load_manifest_text
from mooring.manifest.models import HealthCheck as HealthCheckModel
from mooring.manifest.models import Resources, Rollout, Service

FIELD_NAMES = sorted(
    set(Service.model_fields)
    | set(HealthCheckModel.model_fields)
    | set(Rollout.model_fields)
    | set(Resources.model_fields)
    | {"schedule", "every", "timeout", "driver", "name", "app", "service", "worker", "cron", "volume"}
)

scalars = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "10s",
            "0s",
            "1m30s",
            "${X}",
            "${X:-1}",
            "$$",
            "8080:80",
            "SIGTERM",
            "http",
            "*/5 * * * *",
            "256MiB",
            "500m",
            "rolling",
            "canary",
            "always",
            "./x:/y",
            "data:/d",
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=10))
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=20,
)


def check(text: str) -> None:
    try:
        result = load_manifest_text(text, environ={"X": "1"})
    except ManifestError as exc:
        assert exc.issues, "a ManifestError always lists at least one issue"
        for issue in exc.issues:
            assert issue.render()
    else:
        assert isinstance(result, LoadedManifest)


FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    check(text)


@FAST
@given(st.dictionaries(keys, values, max_size=5))
def test_arbitrary_toml_documents(doc: dict[str, Any]) -> None:
    check(tomli_w.dumps(doc))


sections = st.fixed_dictionaries(
    {},
    optional={
        "app": st.dictionaries(keys, values, max_size=3),
        "service": st.dictionaries(
            st.text(max_size=8), st.dictionaries(keys, values, max_size=6), max_size=3
        ),
        "worker": st.dictionaries(st.text(max_size=8), st.dictionaries(keys, values, max_size=4), max_size=2),
        "cron": st.dictionaries(st.text(max_size=8), st.dictionaries(keys, values, max_size=4), max_size=2),
        "volume": st.dictionaries(st.text(max_size=8), st.dictionaries(keys, values, max_size=2), max_size=2),
    },
)


@FAST
@given(sections)
def test_arbitrary_sections(doc: dict[str, Any]) -> None:
    check(tomli_w.dumps(doc))


@FAST
@given(
    field=st.sampled_from(sorted(Service.model_fields)),
    value=values,
    nested=st.sampled_from([None, "health_check", "rollout", "resources"]),
)
def test_arbitrary_value_in_a_valid_service(field: str, value: Any, nested: str | None) -> None:
    service: dict[str, Any] = {"command": "sleep 1", "ports": ["8080"]}
    if nested is None:
        service[field] = value
    else:
        service[nested] = {"type": "tcp"} if nested == "health_check" else {}
        service[nested][field] = value
    check(tomli_w.dumps({"service": {"web": service}}))
