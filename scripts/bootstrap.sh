#!/usr/bin/env bash
# Idempotent development/CI setup for the virt.hostdev collection.
#
#  1. System packages from bindep.txt ([platform:dpkg] lines): installed with apt-get
#     when running as root and one of them is missing (fast path: dpkg-query only).
#  2. .venv (python3 from PATH) with requirements.txt + tests/requirements.txt; pip is
#     skipped while .venv/.bootstrap-stamp is newer than both requirement files.
#  3. .build/collections/ansible_collections/virt/hostdev -> repo root, so Ansible
#     (ANSIBLE_COLLECTIONS_PATH=.build/collections) and pytest find the collection.
#
# Output is quiet; a failing step prints its log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LOG_DIR=.build/logs
mkdir -p "$LOG_DIR"
VENV=.venv
STAMP=$VENV/.bootstrap-stamp

say() { printf 'bootstrap: %s\n' "$*"; }

# run LOGNAME CMD...: run quietly, show the log tail on failure
run() {
    local log="$LOG_DIR/$1.log"
    shift
    if ! "$@" >"$log" 2>&1; then
        say "FAILED: $*"
        say "---- last lines of $log ----"
        tail -n 60 "$log" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------- system packages
dpkg_packages() {
    # first word of every non-comment line tagged platform:dpkg
    sed -e 's/#.*//' bindep.txt | awk '/platform:dpkg/ { print $1 }'
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$pkg")
    done < <(dpkg_packages)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        run apt-update apt-get update -q
        run apt-install apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        say "WARNING: missing system packages (install them as root): ${missing[*]}"
    fi
fi

# ---------------------------------------------------------------- virtualenv
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "removing broken $VENV"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    PY=${PYTHON:-python3}
    say "creating $VENV with $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    rm -f "$STAMP"
    run venv "$PY" -m venv "$VENV"
fi

if [ ! -e "$STAMP" ] || [ requirements.txt -nt "$STAMP" ] || [ tests/requirements.txt -nt "$STAMP" ]; then
    say "installing Python requirements into $VENV"
    run pip "$VENV/bin/python" -m pip install --disable-pip-version-check \
        -r requirements.txt -r tests/requirements.txt
    touch "$STAMP"
fi

# ---------------------------------------------------------------- ansible-test pip bootstrap
# ansible-test creates every sanity-test virtualenv without pip and then runs a get-pip
# script it downloads from its own CI file host, which this network does not reach. It
# uses a cached copy when one exists; write a small stand-in there that installs pip with
# ensurepip and then upgrades it to the requested version from PyPI.
PIP_FOR_TEST=$("$VENV/bin/python" - <<'PY'
import re
try:
    import ansible_test
except ImportError:
    raise SystemExit(0)
path = ansible_test.__path__[0] + '/_internal/python_requirements.py'
with open(path, encoding='utf-8') as handle:
    match = re.search(r"pip='([0-9.]+)'", handle.read())
print(match.group(1) if match else '')
PY
)
if [ -n "$PIP_FOR_TEST" ]; then
    GET_PIP_CACHE=$HOME/.ansible/test/cache/get_pip_${PIP_FOR_TEST//./_}.py
    if [ ! -s "$GET_PIP_CACHE" ]; then
        mkdir -p "$(dirname "$GET_PIP_CACHE")"
        cat >"$GET_PIP_CACHE" <<'PY'
"""Stand-in for ansible-test's get-pip bootstrap script (written by virt.hostdev's
scripts/bootstrap.sh): ensurepip, then `pip install ARGS` (get-pip only flags dropped)."""
import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'],
                      stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet'] + ARGS))
PY
    fi
fi

# ---------------------------------------------------------------- collection path
LINK=.build/collections/ansible_collections/virt/hostdev
if [ "$(readlink "$LINK" 2>/dev/null || true)" != "../../../.." ]; then
    mkdir -p "$(dirname "$LINK")"
    rm -rf "$LINK"
    ln -s ../../../.. "$LINK"
fi
