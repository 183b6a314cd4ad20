#!/usr/bin/env bash
# The ansible-core versions meta/runtime.yml claims (requires_ansible) are the ones tested:
# the unit tests and ansible-test sanity on the oldest and the newest supported line, each in
# a virtualenv of its own under .build/compat/NAME (kept while its specification is unchanged).
# Once the virtualenvs are ready the unit tests of the lines run side by side (each one's output
# printed when it ends, and kept in .build/compat/NAME/unit.log), then sanity line after line.
#
#   scripts/compat.sh [NAME...]     (default: every line below)
#
# The main .venv (make unit, make sanity) runs the newest ansible-core its Python allows.
# requirements.txt allows every ansible-core and libvirt-python version between these lines.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# NAME  PYTHON  ANSIBLE-CORE  LIBVIRT-PYTHON
#  - oldest: ansible-core 2.16 (requires_ansible: >=2.16.0) on the oldest controller Python it
#    supports, with Debian 12's libvirt binding (python3-libvirt 9.0).
#  - newest: the newest ansible-core line (2.21 needs Python 3.12+) with the newest libvirt-python,
#    built against this machine's libvirt headers (Debian 12: libvirt 9.0).
LINES=(
    "core-2.16 3.10 ansible-core==2.16.* libvirt-python==9.0.*"
    "core-2.21 3.13 ansible-core==2.21.* libvirt-python==12.*"
)

say() { printf 'compat: %s\n' "$*"; }

# python_for X.Y: an interpreter of that version (pyenv's first, then PATH).
python_for() {
    local version=$1 candidate
    if command -v pyenv >/dev/null 2>&1; then
        candidate=$(find "$(pyenv root)/versions" -mindepth 3 -maxdepth 3 -path "*/versions/$version.*/bin/python$version" \
            2>/dev/null | sort -V | tail -n 1)
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    fi
    command -v "python$version" || return 1
}

# The test runner's requirement, from tests/requirements.txt (one place for its version range).
PYTEST_REQ=$(grep -E '^pytest[<>=! ]' tests/requirements.txt)
JMESPATH_REQ=$(grep -E '^jmespath[<>=! ]' requirements.txt)

selected=("$@")
# A line that fails to set up stops the script: the unit tests already started stop with it.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
names=()
pids=()
venvs=()
for line in "${LINES[@]}"; do
    read -r name python_version core libvirt <<<"$line"
    if [ "${#selected[@]}" -gt 0 ] && [[ " ${selected[*]} " != *" $name "* ]]; then
        continue
    fi
    dir=.build/compat/$name
    venv=$dir/venv
    spec="$python_version $core $libvirt $JMESPATH_REQ $PYTEST_REQ"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$dir/spec" 2>/dev/null)" != "$spec" ]; then
        python=$(python_for "$python_version") || {
            say "$name: no Python $python_version (pyenv install $python_version)"; exit 1; }
        say "$name: creating $venv with $python ($core, $libvirt)"
        rm -rf "$dir"
        mkdir -p "$dir"
        "$python" -m venv "$venv"
        if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q \
                "$core" "$libvirt" "$JMESPATH_REQ" "$PYTEST_REQ" >"$dir/pip.log" 2>&1; then
            say "$name: pip install failed:"
            tail -n 40 "$dir/pip.log" >&2
            exit 1
        fi
        echo "$spec" >"$dir/spec"
    fi
    versions=$("$venv/bin/python" - <<'PY'
import sys
from importlib.metadata import version
print('Python %d.%d.%d, ansible-core %s, libvirt-python %s'
      % (sys.version_info[:3] + (version('ansible-core'), version('libvirt-python'))))
PY
)
    # The unit tests of the lines run side by side (each pytest is one process; the lines share
    # nothing: each its venv and Python, and pytest locks its numbered temporary directories), each
    # into its own log; the sanity runs then follow one at a time (pylint alone takes every core).
    say "$name: $versions"
    say "$name: unit tests (log: $dir/unit.log)"
    PATH=$ROOT/$venv/bin:$PATH "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit >"$dir/unit.log" 2>&1 &
    names+=("$name")
    pids+=("$!")
    venvs+=("$venv")
done

failed=()
for i in "${!pids[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    name=${names[$i]}
    say "$name: unit tests (.build/compat/$name/unit.log):"
    cat ".build/compat/$name/unit.log"
    if [ "$rc" -ne 0 ]; then
        failed+=("$name")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    say "unit tests FAILED on: ${failed[*]}"
    exit 1
fi
for i in "${!names[@]}"; do
    name=${names[$i]}
    start=$SECONDS
    say "$name: ansible-test sanity"
    bash scripts/sanity.sh "${venvs[$i]}" ".build/compat/$name/sanity"
    say "$name: sanity passed in $((SECONDS - start)) s"
done
