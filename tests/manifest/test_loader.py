"""What a valid manifest turns into: defaults, resolved paths, env files, normalised forms."""

from pathlib import Path

from mooring.manifest import load_manifest
from tests.manifest.helpers import load


def test_defaults_are_filled() -> None:
    svc = load('[service.web]\ncommand = "sleep 1"\n').manifest.service["web"]
    assert svc.replicas == 1 and svc.restart == "always" and svc.stop_signal == "SIGTERM"
    assert svc.stop_timeout == 10 and svc.rollout.strategy == "rolling" and svc.rollout.order == "start_first"
    assert svc.rollout.failure_action == "pause" and svc.rollout.health_check_timeout == 60


def test_port_forms() -> None:
    svc = load(
        '[service.web]\ncommand = "x"\nports = ["8080:80", "127.0.0.1:8081:81", "82", "[::1]:8083:83"]\n'
    )
    ports = svc.manifest.service["web"].ports
    assert [(p.host_ip, p.host_port, p.port) for p in ports] == [
        (None, 8080, 80),
        ("127.0.0.1", 8081, 81),
        (None, None, 82),
        ("::1", 8083, 83),
    ]
    assert [p.render() for p in ports] == ["8080:80", "127.0.0.1:8081:81", "82", "[::1]:8083:83"]


def test_env_list_and_table_forms_are_the_same() -> None:
    a = load('[service.w]\ncommand = "x"\nenv = ["A=1", "B=x=y"]\n').manifest.service["w"].env
    b = load('[service.w]\ncommand = "x"\nenv = { A = 1, B = "x=y" }\n').manifest.service["w"].env
    assert a == b == {"A": "1", "B": "x=y"}


def test_env_file_is_merged_under_env(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text(
        '# comment\nexport A=from-file\nB="quoted # not comment"\nC=plain # comment\n'
    )
    (tmp_path / "mooring.toml").write_text(
        '[service.w]\ncommand = "x"\nenv_file = "a.env"\nenv = { A = "env" }\n'
    )
    env = load_manifest(tmp_path / "mooring.toml", environ={}).manifest.service["w"].env
    assert env == {"A": "env", "B": "quoted # not comment", "C": "plain"}


def test_process_working_dir_resolves_against_manifest_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "mooring.toml").write_text(
        '[service.a]\ncommand = "x"\n[service.b]\ncommand = "x"\nworking_dir = "sub"\n'
    )
    services = load_manifest(tmp_path / "mooring.toml", environ={}).manifest.service
    assert services["a"].working_dir == str(tmp_path.resolve())
    assert services["b"].working_dir == str((tmp_path / "sub").resolve())


def test_app_name_defaults_to_directory(tmp_path: Path) -> None:
    d = tmp_path / "My_Shop"
    d.mkdir()
    (d / "mooring.toml").write_text('[service.w]\ncommand = "x"\n')
    assert load_manifest(d / "mooring.toml", environ={}).manifest.app_name == "my-shop"


def test_interpolation_feeds_typed_fields() -> None:
    svc = load('[service.w]\ncommand = "x"\nreplicas = "${N:-3}"\n').manifest.service["w"]
    assert svc.replicas == 3


def test_health_timeout_defaults_to_at_most_interval() -> None:
    svc = load(
        '[service.w]\ncommand = "x"\nports = ["80"]\nhealth_check = { type = "tcp", interval = "2s" }\n'
    )
    check = svc.manifest.service["w"].health_check
    assert check is not None and check.timeout == 2


def test_resources_units() -> None:
    res = load('[service.w]\ncommand = "x"\nresources = { cpu = "250m", memory = "64MiB", pids = 10 }\n')
    r = res.manifest.service["w"].resources
    assert (r.cpu, r.memory, r.pids) == (0.25, 64 * 1024 * 1024, 10)
