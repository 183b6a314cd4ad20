#!/usr/bin/env bash
# Idempotent development/CI setup for the virt.hostdev collection.
#
#   scripts/bootstrap.sh          everything: make setup, make test, CI
#   scripts/bootstrap.sh --demo   only what make demo needs (no QEMU, no libvirt daemon,
#                                 no browser, no test tools)
#
#  1. System packages: the [platform:dpkg] lines of bindep.txt (what the collection needs at
#     run time) and tests/bindep.txt (development and tests) that apply with the profiles
#     compile + test (compile + demo with --demo), selected as bindep does; installed with
#     apt-get when running as root and one of them is missing (fast path: dpkg-query only).
#  2. .venv (python3 from PATH) with requirements.txt + tests/requirements.txt (--demo:
#     requirements.txt); pip is skipped while the stamp is newer than the requirement files.
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

MODE=full
PROFILES=(compile test)
REQUIREMENTS=(requirements.txt tests/requirements.txt)
STAMP=$VENV/.bootstrap-stamp
if [ "${1:-}" = --demo ]; then
    MODE=demo
    PROFILES=(compile demo)
    REQUIREMENTS=(requirements.txt)
    STAMP=$VENV/.bootstrap-stamp-demo
elif [ $# -gt 0 ]; then
    say "usage: $0 [--demo]"
    exit 2
fi

# ---------------------------------------------------------------- system packages
# bindep_packages FILE PROFILE...: the packages of FILE for this Debian machine with these
# profiles, as bindep selects them: a negative selector that matches excludes the line; a line
# with positive platform (or profile) selectors needs one of them to match.
bindep_packages() {
    local file=$1
    shift
    awk -v profiles="$*" -v platforms="platform:dpkg platform:debian" '
        BEGIN {
            split(profiles, list, " "); for (i in list) profile[list[i]] = 1
            split(platforms, list, " "); for (i in list) platform[list[i]] = 1
        }
        {
            sub(/#.*/, "")
            if ($0 ~ /^[[:space:]]*$/) next
            selectors = ""
            if (match($0, /\[[^]]*\]/)) selectors = substr($0, RSTART + 1, RLENGTH - 2)
            n = split(selectors, words, /[[:space:]]+/)
            excluded = 0; platform_wanted = 0; platform_hit = 0; profile_wanted = 0; profile_hit = 0
            for (i = 1; i <= n; i++) {
                word = words[i]
                if (word == "") continue
                negative = substr(word, 1, 1) == "!"
                if (negative) word = substr(word, 2)
                if (word ~ /^platform:/) {
                    hit = word in platform
                    if (negative) { if (hit) excluded = 1 } else { platform_wanted = 1; if (hit) platform_hit = 1 }
                } else {
                    hit = word in profile
                    if (negative) { if (hit) excluded = 1 } else { profile_wanted = 1; if (hit) profile_hit = 1 }
                }
            }
            if (excluded || (platform_wanted && !platform_hit) || (profile_wanted && !profile_hit)) next
            print $1
        }' "$file"
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$pkg")
    done < <(bindep_packages bindep.txt "${PROFILES[@]}"; bindep_packages tests/bindep.txt "${PROFILES[@]}")
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

# fresh STAMP FILE...: the stamp exists and is newer than every file
fresh() {
    local stamp=$1 file
    shift
    [ -e "$stamp" ] || return 1
    for file; do
        if [ "$file" -nt "$stamp" ]; then return 1; fi
    done
}

# A full install also satisfies the demo.
if ! fresh "$STAMP" "${REQUIREMENTS[@]}" \
        && ! { [ "$MODE" = demo ] && fresh "$VENV/.bootstrap-stamp" requirements.txt tests/requirements.txt; }; then
    say "installing Python requirements into $VENV (${REQUIREMENTS[*]})"
    run pip "$VENV/bin/python" -m pip install --disable-pip-version-check "${REQUIREMENTS[@]/#/-r}"
    touch "$STAMP"
fi

# ---------------------------------------------------------------- collection path
LINK=.build/collections/ansible_collections/virt/hostdev
if [ "$(readlink "$LINK" 2>/dev/null || true)" != "../../../.." ]; then
    mkdir -p "$(dirname "$LINK")"
    rm -rf "$LINK"
    ln -s ../../../.. "$LINK"
fi
