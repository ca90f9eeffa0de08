# Sourced by scripts/dev and scripts/test: a project virtualenv with everything installed,
# and the Debian packages the project runs against (redis-server; PostgreSQL for the deployment test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

apt_install() {
  # Install Debian packages that are missing (we run as root on the target machines; sudo otherwise).
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing $* with apt-get" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v redis-server >/dev/null 2>&1 || apt_install redis-server
# Debian ships venv support apart from Python itself.
"$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_install python3-venv

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
VENV_PY="$ROOT/.venv/bin/python"
stamp=".venv/.installed-$(cat pyproject.toml setup.cfg | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  # Not quiet: a first install takes about 2 minutes, and pip's own lines show what is being installed.
  echo "installing the project and its pinned dependencies into .venv (first run or pyproject.toml changed)" >&2
  "$VENV_PY" -m pip install -q --upgrade pip
  "$VENV_PY" -m pip install --progress-bar on -e '.[test]' >&2
  "$VENV_PY" -m pip check
  rm -f .venv/.installed-*
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
