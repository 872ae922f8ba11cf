"""Bad manifests: every error names the file, the key path and the fix."""

import pytest

from tests.manifest.helpers import errors_of, load

OK_SERVICE = '[service.web]\ncommand = "sleep 1"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[servce.web]\ncommand = "x"\n',
            "mooring.toml: servce: unknown section [servce] (did you mean 'service'?)",
        ),
        (
            '[service.web]\ncommand = "x"\n[service.web.rollout]\nparalelism = 2\n',
            "mooring.toml: service.web.rollout.paralelism: unknown key 'paralelism' in service.web.rollout "
            "(did you mean 'parallelism'?)",
        ),
        ('[service.web]\ncomand = "x"\n', "did you mean 'command'?"),
        (
            '[service.web]\ncommand = "x"\n[service.web.rollout]\nparallelism = 0\n',
            "mooring.toml: service.web.rollout.parallelism: must be >= 1 (got 0)",
        ),
        ("[service.web]\nreplicas = 2\n", 'service.web: needs "image" (run as a container) or "command"'),
        (
            '[service.web]\ncommand = "x"\nstop_timeout = 10\n',
            "service.web.stop_timeout: expected a duration",
        ),
        (
            '[service.web]\ncommand = "x"\nstop_timeout = "10 sec"\n',
            "service.web.stop_timeout: '10 sec' is not",
        ),
        ('[service.web]\ncommand = "x"\nrestart = "alwys"\n', "service.web.restart: must be one of"),
        ('[service.web]\ncommand = "x"\nports = ["70000"]\n', "service.web.ports[0]: port '70000'"),
        ('[service.web]\ncommand = "x"\nports = ["a:b:c:d"]\n', "service.web.ports[0]: 'a:b:c:d' is not"),
        ('[service.web]\ncommand = "x"\nstop_signal = "SIGKILL"\n', "service.web.stop_signal:"),
        ('[service.web]\ncommand = "x"\nresources = { memory = "10" }\n', "service.web.resources.memory:"),
        ('[service.web]\ncommand = "x"\nresources = { cpu = "lots" }\n', "service.web.resources.cpu:"),
        ('[service.web]\ncommand = "x"\nenv = ["NOEQUALS"]\n', "service.web.env: entry 0"),
        ('[service.web]\ncommand = "x"\nenv = { "1BAD" = "x" }\n', "service.web.env: '1BAD' is not a valid"),
        ("[service.web]\ncommand = []\n", "service.web.command: command is an empty list"),
        (
            '[service.web]\ncommand = "x"\ndepends_on = ["web"]\n',
            "service.web.depends_on[0]: 'web' depends on itself",
        ),
        (
            '[service.web]\ncommand = "x"\ndepends_on = ["dbb"]\n[service.db]\ncommand = "x"\n',
            "service.web.depends_on[0]: depends on 'dbb', which is not defined (did you mean 'db'?)",
        ),
        (
            '[service.a]\ncommand = "x"\ndepends_on = ["b"]\n[service.b]\ncommand = "x"\ndepends_on = ["c"]\n'
            '[service.c]\ncommand = "x"\ndepends_on = ["a"]\n',
            "dependency cycle: a -> b -> c -> a",
        ),
        (
            '[service.a]\ncommand = "x"\nports = ["8080:80"]\n[service.b]\ncommand = "x"\nports = ["127.0.0.1:8080:81"]\n',
            "service.b.ports[0]: host port 8080 is already published by service.a.ports[0]",
        ),
        (
            '[service.web]\ncommand = "x"\n[service.web.health_check]\ntype = "http"\n',
            'service.web.health_check.port: is required for a "http" check',
        ),
        (
            '[service.web]\ncommand = "x"\nports = ["80"]\n[service.web.health_check]\ntype = "tcp"\npath = "/"\n',
            '"path" only applies to type = "http"',
        ),
        (
            '[service.web]\ncommand = "x"\nports = ["80"]\n[service.web.health_check]\ntype = "http"\nport = 81\n',
            "service.web.health_check.port: 81 is not one of the declared ports [80]",
        ),
        ('[service.web]\ncommand = "x"\nvolumes = ["./a:/a"]\n', "volumes only apply to containers"),
        ('[service.web]\nimage = "x"\nvolumes = ["data:/a"]\n', "named volume 'data' is not declared"),
        ('[service.Web]\ncommand = "x"\n', "service.Web: service name 'Web' is not valid"),
        (
            '[service.web]\ncommand = "x"\n[worker.web]\ncommand = "y"\n',
            "worker.web: the name 'web' is already used",
        ),
        ('[cron.c]\ncommand = "x"\n', "cron.c: give exactly one of schedule"),
        (
            '[cron.c]\ncommand = "x"\nschedule = "every day"\n',
            "cron.c.schedule: 'every day' is not a cron schedule",
        ),
        ('[app]\nname = "My App"\n' + OK_SERVICE, "app.name: app name 'My App' is not valid"),
        ("[app]\n", "defines no workload"),
        ('[service.web]\ncommand = "${X"\n', "service.web.command: unclosed '${'"),
        ('[service.web]\ncommand = "${X:?set X to the build id}"\n', "set X to the build id"),
        ('[service.web]\ncommand = "x"\nenv_file = "missing.env"\n', "service.web.env_file: env file"),
        ("[service.web\n", "mooring.toml: is not valid TOML"),
        ('service = "web"\n', "mooring.toml: service: must be a table"),
    ],
)
def test_error_names_key_path_and_fix(text: str, expected: str) -> None:
    rendered = "\n".join(errors_of(text))
    assert expected in rendered


def test_all_errors_reported_at_once() -> None:
    rendered = errors_of('[service.web]\ncommand = "x"\nreplicas = 0\nrestart = "x"\nstop_timeout = 1\n')
    assert len(rendered) == 3


def test_file_not_found_says_how_to_create(tmp_path) -> None:
    from mooring.manifest import ManifestError, load_manifest

    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "nope.toml")
    assert "file not found" in str(caught.value) and "mooring init" in str(caught.value)


def test_warnings_do_not_fail() -> None:
    loaded = load(
        '[service.web]\ncommand = "${UNSET_VAR}x"\nports = ["80"]\n'
        '[service.web.health_check]\ntype = "tcp"\ninterval = "1s"\ntimeout = "3s"\n'
    )
    texts = [w.render() for w in loaded.warnings]
    assert any("${UNSET_VAR} is not set" in t for t in texts)
    assert any("health_check.timeout: is longer than interval" in t for t in texts)
