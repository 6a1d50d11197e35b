# Sourced by test_deps.sh and compose_test.sh: install missing Debian packages, as root or
# through sudo. Usage: install_packages WHO PACKAGE... (WHO prefixes the messages).

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "need root to run: $*" >&2
    return 1
  fi
}

install_packages() {
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null; then
    echo "$who: missing $* and no apt-get: install them, then run again" >&2
    return 1
  fi
  echo "$who: installing $*"
  as_root apt-get update -qq \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
