#!/bin/sh
# Installs what the whole test suite and `make demo` need, on Debian:
#
#  1. the Debian packages below that are missing (apt-get update runs once,
#     only when something is missing);
#  2. cnitool, the libcni driver in tests/tools/cnitool/main.go, built with
#     Debian's Go and libcni source (GOPATH mode, no module downloads) into
#     ${CNITOOL:-/usr/local/bin/cnitool}, when that file is missing, older
#     than main.go, or not this repository's cnitool;
#  3. scripts/build-cri-tools.sh, when the repository has it;
#  4. the prometheus_client Python package (from PyPI, with pip), when
#     python3 cannot import it: the metrics tests parse meta-cni's metrics
#     file with its Prometheus text parser.
#
# Idempotent; with everything in place it only checks and returns. Without
# root it installs nothing: it lists what is missing (the tests that need it
# print SKIPPED) and exits 0. Outside the repository it writes only through
# apt-get and to the cnitool path; it builds in a temp dir it removes.
set -eu
top="$(cd "$(dirname "$0")/.." && pwd)"
cnitool="${CNITOOL:-/usr/local/bin/cnitool}"
src="$top/tests/tools/cnitool/main.go"

# golang-go, golang-github-appc-cni-dev: build cnitool.
# containernetworking-plugins (/usr/lib/cni), iptables, iproute2: the
#   reference plugins and the host tools tests/realplugins checks with.
# podman, runc, busybox-static: the real-container-runtime test.
# containerd, protobuf-compiler: the containerd suite and its CRI client.
# make, dpkg (dpkg-deb), libc-bin (ldd), libc6-dev and gcc (static glibc
#   build): make static / make deb and tests/packaging.
# python3-pip: installs prometheus_client (below).
packages="golang-go golang-github-appc-cni-dev containernetworking-plugins
iptables iproute2 podman runc busybox-static containerd protobuf-compiler
make dpkg libc-bin libc6-dev gcc python3-pip"

say() { echo "install-test-tools: $*"; }

missing=""
for p in $packages; do
  # Installed means status "install ok installed", not merely known to dpkg.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
    missing="$missing $p"
  fi
done

# Whether $cnitool must be (re)built.
cnitool_stale() {
  [ -x "$cnitool" ] || return 0
  [ -n "$(find "$src" -newer "$cnitool" 2>/dev/null)" ] && return 0
  # Another cnitool (e.g. upstream's) speaks a different CLI.
  "$cnitool" --help 2>/dev/null | grep -q "meta-cni's test driver" || return 0
  return 1
}

# Whether python3 lacks prometheus_client's parser.
prometheus_client_missing() {
  ! python3 -c 'import prometheus_client.parser' 2>/dev/null
}

if [ "$(id -u)" != 0 ]; then
  todo=""
  [ -n "$missing" ] && todo="packages:$missing"
  cnitool_stale && todo="${todo:+$todo; }cnitool ($cnitool, from tests/tools/cnitool)"
  prometheus_client_missing && todo="${todo:+$todo; }prometheus_client (pip install prometheus_client)"
  if [ -n "$todo" ]; then
    say "not root, installing nothing. Missing: $todo"
    say "tests that need these (and every root-only test) will be SKIPPED;"
    say "run 'sudo sh scripts/install-test-tools.sh' to install them"
  else
    say "everything is installed (root-only tests still SKIP unless run as root)"
  fi
  exit 0
fi

if [ -n "$missing" ]; then
  say "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq $missing >/dev/null
fi

if cnitool_stale; then
  say "building $cnitool from tests/tools/cnitool/main.go"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/meta-cni-cnitool.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' INT TERM HUP
  mkdir -p "$tmp/gopath/src/cnitool" "$tmp/cache"
  cp "$src" "$tmp/gopath/src/cnitool/main.go"
  (
    cd "$tmp/gopath/src/cnitool"
    env GO111MODULE=off GOPATH="$tmp/gopath:/usr/share/gocode" GOCACHE="$tmp/cache" \
      GOFLAGS= GOPROXY=off CGO_ENABLED=0 \
      go build -trimpath -o "$tmp/cnitool" .
  )
  mkdir -p "$(dirname "$cnitool")"
  # Into place by rename: a test running the old binary is never left with
  # a half-written file.
  cp "$tmp/cnitool" "$cnitool.new.$$"
  chmod 0755 "$cnitool.new.$$"
  mv -f "$cnitool.new.$$" "$cnitool"
  rm -rf "$tmp"
  trap - EXIT INT TERM HUP
fi

if [ -f "$top/scripts/build-cri-tools.sh" ]; then
  sh "$top/scripts/build-cri-tools.sh"
fi

if prometheus_client_missing; then
  say "installing prometheus_client (PyPI) for $(command -v python3)"
  # Debian's own python3 refuses pip installs outside a venv (PEP 668)
  # unless told to; other pythons (pyenv, a venv) take the plain command.
  python3 -m pip install --quiet prometheus_client 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages prometheus_client
fi
