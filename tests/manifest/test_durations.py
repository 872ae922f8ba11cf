import pytest

from mooring.manifest.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("250ms", 0.25),
        ("10s", 10),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
        ("1h2m3s4ms", 3723.004),
    ],
)
def test_parses_operator_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "-1s", "1 s", "1m30", "ms", "9999999h"])
def test_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0, 0.25, 10, 90, 3600, 3723.004])
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_format_is_canonical() -> None:
    assert format_duration(90) == "1m30s"
    assert format_duration(0) == "0s"
    assert format_duration(0.5) == "500ms"
