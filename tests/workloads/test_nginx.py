"""nginx from Debian, its port (and pid and temp files) from a template rendered per instance."""

from __future__ import annotations

import pwd
import urllib.request

from tests.engine.conftest import Mooring, free_port, wait_until
from tests.workloads.conftest import alive, kill_engine_and_adopt, need, owner_of, running, up

TEMPLATE = """daemon off;
worker_processes 1;
pid ${MOORING_INSTANCE_DIR}/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path ${MOORING_INSTANCE_DIR}/body;
    proxy_temp_path ${MOORING_INSTANCE_DIR}/proxy;
    fastcgi_temp_path ${MOORING_INSTANCE_DIR}/fastcgi;
    uwsgi_temp_path ${MOORING_INSTANCE_DIR}/uwsgi;
    scgi_temp_path ${MOORING_INSTANCE_DIR}/scgi;
    server {
        listen 127.0.0.1:${PORT};
        location / { return 200 "VERSION replica ${MOORING_REPLICA} host $host\\n"; }
    }
}
"""


def manifest(host_port: int) -> str:
    return f"""
[app]
name = "web"

[service.nginx]
command = ["{need("nginx", "nginx-light")}", "-e", "stderr", "-c", "$${{MOORING_INSTANCE_DIR}}/nginx.conf"]
user = "www-data"
ports = ["127.0.0.1:{host_port}:8080"]
replicas = 2
stop_signal = "SIGQUIT"
health_check = {{ type = "http", path = "/", interval = "200ms", timeout = "1s", retries = 2, start_period = "15s" }}
rollout = {{ health_check_timeout = "30s" }}

[[service.nginx.template]]
source = "nginx.conf.tmpl"
destination = "nginx.conf"
"""


def page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return str(reply.read().decode())


def test_nginx_listens_where_its_rendered_template_says_and_survives_a_roll_and_an_engine_kill(
    wmooring: Mooring,
) -> None:
    host_port = free_port()
    wmooring.write("nginx.conf.tmpl", TEMPLATE.replace("VERSION", "v1"))
    wmooring.write("mooring.toml", manifest(host_port))
    up(wmooring)
    assert page(host_port).startswith("v1 replica ")
    www = pwd.getpwnam("www-data")
    first = running(wmooring, "web")
    assert len(first) == 2
    dirs = []
    for iid, row in first.items():
        assert owner_of(row["pid"]) == (www.pw_uid, www.pw_gid), "nginx does not run as www-data"
        conf = wmooring.home / "instances" / iid / "nginx.conf"
        text = conf.read_text()
        assert f"listen 127.0.0.1:{row['ports']['8080']};" in text  # its own port, from the template
        assert f"replica {row['replica']} " in text
        info = conf.stat()
        assert (info.st_uid, oct(info.st_mode & 0o777)) == (www.pw_uid, "0o600"), "only nginx's user reads it"
        dirs.append(conf.parent)

    # A changed template is a change of the release: the dry-run shows it, `up` replaces the instances.
    wmooring.write("nginx.conf.tmpl", TEMPLATE.replace("VERSION", "v2"))
    dry = up(wmooring, "--dry-run")
    assert "nginx" in dry and "replace" in dry, dry
    assert "template" in dry, dry
    up(wmooring)
    assert page(host_port).startswith("v2 replica ")
    second = running(wmooring, "web")
    assert not set(second) & set(first)
    for old in dirs:  # the replaced instances' rendered files went with them
        wait_until(lambda o=old: not o.exists(), what=f"{old} removed with its instance")

    kill_engine_and_adopt(wmooring, "web")
    assert page(host_port).startswith("v2 replica ")
    wmooring.run("down", "--app", "web", check=True)
    for iid in second:
        assert not (wmooring.home / "instances" / iid).exists()
    assert not [r["pid"] for r in second.values() if alive(r["pid"])], "down left nginx running"
