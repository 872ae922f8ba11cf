#!/bin/sh
# Install the Debian packages that `make demo` or `make test` needs, so the README's two commands
# work on a fresh machine. As root it runs apt-get; otherwise it stops at once and prints the one
# command to run. Usage: scripts/setup-debian.sh demo|test
#   MOORING_SKIP_SETUP=1   skip this step (you manage the packages yourself)
#   SETUP_DRY_RUN=1        print the apt-get command instead of running it
#   SETUP_ROOT=DIR         look for absolute paths (PostgreSQL's initdb, dpkg's status) under DIR
set -eu

target="${1:-test}"
root="${SETUP_ROOT:-}"
[ "${MOORING_SKIP_SETUP:-}" = "1" ] && exit 0

need=""
add() { need="$need $1"; }
has() { command -v "$1" >/dev/null 2>&1; }
installed() { has dpkg-query && dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

# make demo: a virtual environment for mooring (Debian splits venv/ensurepip out of python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || add python3-venv

if [ "$target" = "test" ]; then
    ls "$root"/usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || add postgresql  # the store tests' PostgreSQL
    has runuser || add util-linux            # PostgreSQL runs as its own user
    has openssl || add openssl               # the remote tests' TLS certificates
    has dockerd || add docker.io             # the container tests start a private dockerd
    installed busybox-static || add busybox-static  # the container tests' image
    has ip || add iproute2                   # dockerd's private bridge
    has wrk || add wrk                       # bench/proxy_bench.py (make bench-smoke)
    has redis-server || add redis-server     # tests/workloads: redis as a stateful process service
    has nginx || [ -x "$root"/usr/sbin/nginx ] || add nginx-light  # tests/workloads: nginx from a rendered template
    has chromium || add chromium             # the dashboard's browser test (tests/observe)
    has chromedriver || add chromium-driver  # selenium drives chromium through it
    has pebble || add pebble                 # tests/network: Let's Encrypt's test ACME server on loopback
fi
# both: HAProxy serves published ports (docs/network.md); the quickstart goes through one
has haproxy || [ -x "$root"/usr/sbin/haproxy ] || add haproxy

[ -z "$need" ] && exit 0
command="apt-get update && apt-get install -y --no-install-recommends$need"
if [ "${SETUP_DRY_RUN:-}" = "1" ]; then
    echo "would run: $command"
    exit 0
fi
if ! has apt-get; then
    echo "make $target needs these Debian packages (or your system's equivalents):$need" >&2
    exit 1
fi
if [ "$(id -u)" != "0" ]; then
    echo "make $target needs these Debian packages:$need" >&2
    echo "run this once, then make $target again:" >&2
    echo "  sudo sh -c '$command'" >&2
    exit 1
fi
echo "make $target: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # the package list is meant to split
apt-get install -y -qq --no-install-recommends $need
