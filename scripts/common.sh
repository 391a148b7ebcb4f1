# Sourced by the other scripts: where tessera keeps what lives outside the checkout.
# Override TESSERA_CACHE to move the venv, pip cache and ccache elsewhere.
TESSERA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESSERA_CACHE="${TESSERA_CACHE:-$HOME/.cache/tessera}"
TESSERA_VENV="${TESSERA_VENV:-$TESSERA_CACHE/venv}"
TESSERA_BUILD="${TESSERA_BUILD:-$TESSERA_ROOT/build}"
export CCACHE_DIR="${CCACHE_DIR:-$TESSERA_CACHE/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-10G}"
# Cache hits across clones in other folders (CI) and for the precompiled-header users.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$TESSERA_ROOT}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$TESSERA_CACHE/pip}"
# The test oracles (Python in the venv) and the product share one LibTorch.
export TESSERA_PYTHON="$TESSERA_VENV/bin/python"
log() { printf '\033[1m[tessera]\033[0m %s\n' "$*" >&2; }
die() { printf '[tessera] error: %s\n' "$*" >&2; exit 1; }
