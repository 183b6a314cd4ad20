#!/usr/bin/env bash
# ansible-test sanity of this checkout with the ansible-core of one virtualenv.
#
#   scripts/sanity.sh VENV DEST [ansible-test sanity arguments...]
#
# Copies the tracked and untracked (not ignored) files to DEST/ansible_collections/virt/hostdev,
# makes the copy a git repository of its own (ansible-test lists files with git from the nearest
# .git upwards; without one the copy would be seen as ignored files of this checkout and skipped),
# and runs VENV's ansible-test sanity there on VENV's Python, with --requirements.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "$1" && pwd)
DEST=$2
shift 2
cd "$ROOT"

COPY=$DEST/ansible_collections/virt/hostdev
rm -rf "$DEST"
mkdir -p "$COPY"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -co --exclude-standard
else
    find . \( -path ./.git -o -path ./.venv -o -path ./.build \) -prune -o \( -type f -o -type l \) -printf '%P\0'
fi | while IFS= read -r -d '' f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done | tar --null -T - -cf - | tar -xf - -C "$COPY"
git -C "$COPY" init -q

# ansible-test creates every sanity-test virtualenv without pip and then runs a get-pip
# script it downloads from its own CI file host, which this network does not reach. It
# uses a cached copy when one exists: write a small stand-in there (one per pip version
# that this ansible-test asks for) that installs pip with ensurepip and then the requested
# version from PyPI.
PIP_FOR_TEST=$("$VENV/bin/python" - <<'PY'
import re
import ansible_test
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
scripts/sanity.sh): ensurepip, then `pip install ARGS` (get-pip only flags dropped)."""
import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'],
                      stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet'] + ARGS))
PY
    fi
fi

PY_VERSION=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$COPY"
# The venv's tools first: ansible-test finds pythonX.Y and the ansible-* commands on PATH.
PATH=$VENV/bin:$PATH exec "$VENV/bin/ansible-test" sanity --python "$PY_VERSION" --requirements "$@"
