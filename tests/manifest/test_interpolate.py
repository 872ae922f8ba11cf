import pytest

from mooring.manifest.interpolate import InterpolationError, Interpolator


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-a:b}", {}, "a:b"),
        ("$$HOME", {}, "$HOME"),
        ("$PORT stays", {"PORT": "1"}, "$PORT stays"),
        ("cost: 5$", {}, "cost: 5$"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:?}", {"A": "v"}, "v"),
    ],
)
def test_expands(text: str, env: dict[str, str], expected: str) -> None:
    assert Interpolator(env).expand(text) == expected


def test_unset_variable_is_remembered_and_empty() -> None:
    interp = Interpolator({})
    assert interp.expand("a${MISSING}b") == "ab"
    assert interp.unset == ["MISSING"]


@pytest.mark.parametrize("text", ["${A", "${}", "${1A}", "${A:x}", "${A:?must be set}"])
def test_bad_expressions_raise(text: str) -> None:
    with pytest.raises(InterpolationError):
        Interpolator({}).expand(text)


def test_value_cannot_inject_toml(tmp_path) -> None:
    from mooring.manifest import load_manifest_text

    text = '[service.web]\ncommand = "echo ${EVIL}"\n'
    loaded = load_manifest_text(text, environ={"EVIL": '"\n[service.evil]\ncommand = "rm -rf /'})
    assert set(loaded.manifest.service) == {"web"}
    assert "[service.evil]" in str(loaded.manifest.service["web"].command)
