#!/usr/bin/env bash
# Set up emotionaldan-ros in ./.venv (pinned pip packages incl. ROS 2 Kilted wheels, the
# emotionaldan_msgs build, the package itself), then optionally run something in it.
#
#   scripts/setup.sh            set up only
#   scripts/setup.sh demo [..]  set up, then run the cabin demo (extra args go to emotionaldan-cabin)
#   scripts/setup.sh test [..]  set up, then run the whole test suite (extra args go to pytest)
#
# Idempotent: each step is skipped when its inputs did not change since the last run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${EMOTIONALDAN_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
STAMPS="$VENV/.emotionaldan-stamps"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
digest() { cat "$@" | sha256sum | cut -c1-16; }

need_apt=()
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
"$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need_apt+=(python3-dev)
command -v cc >/dev/null && command -v c++ >/dev/null && command -v make >/dev/null || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: missing system packages (the message build compiles C/C++): ${need_apt[*]}" >&2
  echo "setup: install them with: sudo apt-get install -y ${need_apt[*]}" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"
# shellcheck disable=SC1091
. "$VENV/bin/activate"

# 1. pinned pip packages
want=$(digest requirements.in requirements.lock)
if [ "$(cat "$STAMPS/pip" 2>/dev/null)" != "$want" ]; then
  log "installing pinned packages (first run: ~2 min)"
  python -m pip install -q --disable-pip-version-check -r requirements.in -c requirements.lock \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" > "$STAMPS/pip"
fi

# 2. emotionaldan_msgs (rosidl build against the pip ROS, DESIGN §4)
want=$(digest emotionaldan_msgs/CMakeLists.txt emotionaldan_msgs/package.xml emotionaldan_msgs/msg/* \
  scripts/build_msgs.py)
if [ "$(cat "$STAMPS/msgs" 2>/dev/null)" != "$want" ] || ! python -c "import emotionaldan_msgs.msg" 2>/dev/null; then
  log "building emotionaldan_msgs"
  python scripts/build_msgs.py
  echo "$want" > "$STAMPS/msgs"
fi

# 3. the package itself (editable, so console scripts run the checkout)
want=$(digest setup.py setup.cfg package.xml)
if [ "$(cat "$STAMPS/pkg" 2>/dev/null)" != "$want" ]; then
  log "installing emotionaldan_ros (editable)"
  python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" > "$STAMPS/pkg"
fi

case "${1:-}" in
  "") log "ready: . $VENV/bin/activate" ;;
  demo) shift; exec emotionaldan-cabin --config config/cabin.yaml --output out/demo "$@" ;;
  test) shift; exec python -m pytest "$@" ;;
  *) echo "usage: $0 [demo|test] [args...]" >&2; exit 2 ;;
esac
