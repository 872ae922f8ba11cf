"""HTTP route benchmark: a small HTTP service behind an HTTP route and an HTTPS route of mooring's
edge, against direct to the instance and against a plain HAProxy doing the same job, in one run.

The service runs as an instance of a real engine (`mooring up`) with one `[[service.web.route]]`
(host ``localhost``, a certificate from files), so mooring's managed HAProxy serves it on the
shared ``mode http`` listener (routed by ``Host``) and on the shared HTTPS listener (TLS terminated
by HAProxy). wrk drives loopback load at
  - direct:   the instance's own port, plain HTTP (the floor, for both protocols),
  - mooring:  the route through the edge's shared HTTP or HTTPS listener,
  - haproxy:  a plain HAProxy started by hand (``mode http``, a Host rule, ``option forwardfor``,
    its default threads and TLS settings, as mooring's; the same certificate file), forwarding to
    the same instance port: what mooring's routing costs over HAProxy alone,
with keep-alive and with a new connection per request (``Connection: close``: for HTTPS, a TLS
handshake per request). It prints requests/s, p50 and p99, the throughput ratio to direct and to
the plain HAProxy, and the p99 each adds.

    .venv/bin/python bench/route_bench.py [--smoke] [--json PATH] [--duration S] [--runs N] [--connections C]

Needs wrk, HAProxy and openssl (Debian packages ``wrk``, ``haproxy``, ``openssl``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import Mooring, Scenario
from proxy_bench import SERVER, free_port, need, wait_port, wrk

HOST = "localhost"  # resolves to 127.0.0.1 everywhere: wrk sends it as SNI and Host, so the route's
# own certificate is served (not the edge's fallback) and the Host rule matches

MANIFEST = """
[app]
name = "routebench"
[service.web]
command = ["{python}", "server.py"]
ports = ["8000"]
[service.web.health_check]
type = "tcp"
interval = "200ms"
timeout = "1s"
[[service.web.route]]
host = "{host}"
tls = {{ cert = "cert.pem", key = "key.pem" }}
"""

# What a person writes by hand for the same job: the Host rule, the forwarded headers, the cert.
HAPROXY = """
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:{http}
    bind 127.0.0.1:{https} ssl crt {pem}
    option forwardfor
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    use_backend instance if {{ req.hdr(host),field(1,:),lower -m str {host} }}
backend instance
    balance leastconn
    server web 127.0.0.1:{upstream}
"""

TARGETS = ("direct", "mooring", "haproxy")
CASES = (("http", "keepalive"), ("http", "newconn"), ("https", "keepalive"), ("https", "newconn"))


class Setup:
    """The engine serving the route (and its HAProxy), a plain HAProxy; torn down on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bench = Mooring(root)
        self.ports: dict[str, int] = {}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        work, home = self.bench.work, self.bench.home
        cert, key = work / "cert.pem", work / "key.pem"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
                *("-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"),
                *("-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
        self.ports = {"mooring_http": free_port(), "mooring_https": free_port()}
        home.mkdir(parents=True, exist_ok=True)
        (home / "engine.toml").write_text(
            f'[edge]\nhttp_listen = "127.0.0.1:{self.ports["mooring_http"]}"\n'
            f'https_listen = "127.0.0.1:{self.ports["mooring_https"]}"\n'
        )
        (work / "server.py").write_text(SERVER)
        (work / "mooring.toml").write_text(MANIFEST.format(python=sys.executable, host=HOST))
        self.bench.cli("up")
        rows = json.loads(self.bench.cli("ps", "--json", "--app", "routebench")[1].stdout)
        self.ports["direct"] = int(rows[0]["ports"]["8000"])
        self.ports["haproxy_http"], self.ports["haproxy_https"] = free_port(), free_port()
        pem = self.root / "plain.pem"  # HAProxy's crt: the same certificate and key, one file
        pem.write_text(cert.read_text() + key.read_text())
        config = self.root / "haproxy.cfg"
        config.write_text(
            HAPROXY.format(
                http=self.ports["haproxy_http"],
                https=self.ports["haproxy_https"],
                pem=pem,
                host=HOST,
                upstream=self.ports["direct"],
            )
        )
        log = open(self.root / "haproxy.log", "wb")  # noqa: SIM115 (closed with the temp dir)
        self.procs.append(subprocess.Popen(["haproxy", "-f", str(config)], stdout=log, stderr=log))
        for name, port in self.ports.items():
            wait_port(name, port)
        self.check(cert.read_text())

    def url(self, proto: str, target: str) -> str:
        if target == "direct":  # the instance speaks plain HTTP: the floor of both protocols
            return f"http://127.0.0.1:{self.ports['direct']}/"
        return f"{proto}://{HOST}:{self.ports[f'{target}_{proto}']}/"

    def check(self, cert_pem: str) -> None:
        """Every target answers 200, and both HTTPS listeners serve the very same certificate."""
        import http.client

        context = ssl.create_default_context(cadata=cert_pem)
        for proto in ("http", "https"):
            for target in TARGETS:
                port = self.ports["direct"] if target == "direct" else self.ports[f"{target}_{proto}"]
                if proto == "https" and target != "direct":
                    conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                        HOST, port, context=context, timeout=10
                    )
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/", headers={"Host": HOST})
                status = conn.getresponse().status
                conn.close()
                if status != 200:
                    sys.exit(f"route_bench: {proto} {target} (port {port}) answered {status}, not 200")

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        if self.bench.home.exists():
            self.bench.cli("down", "--app", "routebench", check=False)
            pidfile = self.bench.home / "haproxy" / "haproxy.pid"  # down of the last app stops it; if not:
            if pidfile.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.killpg(int(pidfile.read_text().split()[0]), signal.SIGKILL)
            self.bench.kill_engine()


Results = dict[tuple[str, str, str], list[dict[str, float]]]


def med(results: Results, case: tuple[str, str], target: str, key: str) -> float:
    return statistics.median(r[key] for r in results[(*case, target)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short run per case (under 60 s)")
    parser.add_argument("--json", dest="json_path", help="write the results here")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10, smoke 1)")
    parser.add_argument("--runs", type=int, help="runs per case (default 3, smoke 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    opts = parser.parse_args()
    need("wrk", "wrk")
    need("haproxy", "haproxy")
    need("openssl", "openssl")
    duration = opts.duration or (1.0 if opts.smoke else 10.0)
    runs = opts.runs or (1 if opts.smoke else 3)
    warm = 1.0  # wrk takes whole seconds
    socket.setdefaulttimeout(10)

    results: Results = {}
    loadavg = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mooring-route-bench-") as tmp:
        setup = Setup(Path(tmp))
        try:
            setup.start()
            for proto, mode in CASES:
                close = mode == "newconn"
                for target in TARGETS:
                    wrk(0, warm, opts.connections, close, setup.url(proto, target))
                for _ in range(runs):  # interleaved, so a noisy neighbour hits every target alike
                    for target in TARGETS:
                        results.setdefault((proto, mode, target), []).append(
                            wrk(0, duration, opts.connections, close, setup.url(proto, target))
                        )
        finally:
            setup.close()

    scenarios = report(results, runs, opts.connections, loadavg)
    if opts.json_path:
        Path(opts.json_path).write_text(
            json.dumps(
                {
                    "bench": "route",
                    "smoke": opts.smoke,
                    "notes": f"load average {loadavg[0]:.2f} at start; direct is plain HTTP for both protocols",
                    "scenarios": [s.as_json() for s in scenarios],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


def report(
    results: Results, runs: int, connections: int, loadavg: tuple[float, float, float]
) -> list[Scenario]:
    print(
        f"wrk -t1 -c{connections}, {runs} run(s) per case, medians; load average {loadavg[0]:.2f} at start.\n"
        "direct: plain HTTP to the instance (the floor of both protocols); "
        "x direct / x haproxy: req/s ratio; +p99: p99 added over direct / over the plain HAProxy"
    )
    print(
        f"{'proto':<6} {'mode':<10} {'target':<8} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'x direct':>9} {'x haproxy':>10} {'+p99 dir':>9} {'+p99 hap':>9} {'errors':>7}"
    )
    scenarios: list[Scenario] = []
    for case in CASES:
        direct_rps, direct_p99 = med(results, case, "direct", "rps"), med(results, case, "direct", "p99")
        peer_rps, peer_p99 = med(results, case, "haproxy", "rps"), med(results, case, "haproxy", "p99")
        for target in TARGETS:
            rps, p50, p99 = (med(results, case, target, k) for k in ("rps", "p50", "p99"))
            errors = sum(r["errors"] for r in results[(*case, target)])
            proxied = target != "direct"
            print(
                f"{case[0]:<6} {case[1]:<10} {target:<8} {rps:>9.0f} {p50:>7.2f} {p99:>7.2f} "
                f"{f'{100 * rps / direct_rps:.0f}%' if proxied else '-':>9} "
                f"{f'{100 * rps / peer_rps:.0f}%' if target == 'mooring' else '-':>10} "
                f"{f'{p99 - direct_p99:+.2f}' if proxied else '-':>9} "
                f"{f'{p99 - peer_p99:+.2f}' if target == 'mooring' else '-':>9} {errors:>7.0f}"
            )
        name = f"{case[0]} route {case[1]}"
        for key, unit, better in (("rps", "req/s", "higher"), ("p50", "ms", "lower"), ("p99", "ms", "lower")):
            scenarios.append(
                Scenario(
                    f"{name} {key}",
                    None,
                    unit,
                    better,
                    mooring=[r[key] for r in results[(*case, "mooring")]],
                    floor_label="direct to the instance (plain HTTP)",
                    floor=[r[key] for r in results[(*case, "direct")]],
                    peers={"haproxy": [r[key] for r in results[(*case, "haproxy")]]},
                )
            )
        scenarios.append(
            Scenario(
                f"{name} throughput vs direct",
                None,
                "%",
                "higher",
                mooring=[100 * r["rps"] / direct_rps for r in results[(*case, "mooring")]],
                peers={"haproxy": [100 * r["rps"] / direct_rps for r in results[(*case, "haproxy")]]},
            )
        )
        scenarios.append(
            Scenario(
                f"{name} throughput vs plain haproxy",
                None,
                "%",
                "higher",
                mooring=[100 * r["rps"] / peer_rps for r in results[(*case, "mooring")]],
            )
        )
    return scenarios


if __name__ == "__main__":
    sys.exit(main())
