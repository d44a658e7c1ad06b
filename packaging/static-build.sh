#!/bin/sh
# Build a statically linked meta-cni for x86-64 nodes of any distribution and
# copy it to $TARGET_DIR/static/meta-cni (what `make deb` and `make install`
# ship). `make static` runs this.
#
# STATIC_TARGET=auto (the default):
#   1. x86_64-unknown-linux-musl when its Rust standard library is installed;
#   2. else `rustup target add x86_64-unknown-linux-musl` (one try, bounded);
#   3. else x86_64-unknown-linux-gnu with `-C target-feature=+crt-static`
#      (glibc's libc.a from libc6-dev, which any Rust install on Debian has,
#      since rustc links through cc).
# STATIC_TARGET=x86_64-unknown-linux-musl or x86_64-unknown-linux-gnu forces
# one (musl still tries rustup once; no fallback).
#
# Neither needs a C toolchain for musl (musl-tools): Rust's musl target ships
# its own libc.a and start files, and no dependency compiles C.
#
# glibc static caveat: in a static glibc program, getaddrinfo, getpwnam and
# friends still load NSS modules (libnss_*.so) at run time, from the node's
# glibc, which may not match. meta-cni makes no name lookups (no DNS, no user
# or group names): the static glibc binary contains no NSS code at all. musl
# has no such split, which is one reason it is preferred.
#
# The result is checked: `ldd` must call it static, and it must answer
# CNI_COMMAND=VERSION.
set -eu
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
CARGO="${CARGO:-cargo}"
RUSTC="${RUSTC:-rustc}"
TARGET_DIR="${CARGO_TARGET_DIR:-$top/target}"
want="${STATIC_TARGET:-auto}"
musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu

say() { echo "static-build: $*" >&2; }

# Is the standard library for target $1 installed for the active toolchain?
have_std() {
  libdir="$("$RUSTC" --print target-libdir --target "$1" 2>/dev/null)" || return 1
  ls "$libdir"/libstd-*.rlib >/dev/null 2>&1
}

# Try once to install the musl standard library through rustup.
add_musl() {
  command -v rustup >/dev/null 2>&1 || { say "no rustup to add $musl"; return 1; }
  say "installing the $musl standard library (rustup target add)"
  if command -v timeout >/dev/null 2>&1; then
    timeout 120 rustup target add "$musl" >&2 || return 1
  else
    rustup target add "$musl" >&2 || return 1
  fi
  have_std "$musl"
}

case "$want" in
  auto)
    if have_std "$musl" || add_musl; then
      target=$musl
    else
      say "the $musl target is not available; falling back to static glibc ($gnu, +crt-static)"
      target=$gnu
    fi
    ;;
  "$musl")
    have_std "$musl" || add_musl || { say "cannot install the $musl target"; exit 1; }
    target=$musl
    ;;
  "$gnu") target=$gnu ;;
  *) say "STATIC_TARGET must be auto, $musl or $gnu (got '$want')"; exit 2 ;;
esac

if [ "$target" = "$gnu" ]; then
  # Appended to RUSTFLAGS (which would override a per-target setting).
  # With --target, RUSTFLAGS reach only the target's crates, not build scripts
  # or proc macros, and the output goes to its own directory.
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
  export RUSTFLAGS
fi

say "cargo build --release --locked --target $target"
"$CARGO" build --release --locked --target "$target"

built="$TARGET_DIR/$target/release/meta-cni"
out="$TARGET_DIR/static"
mkdir -p "$out"
# Each file is written aside and renamed into place, so a concurrent run or a
# running copy never sees a half-written file.
tmp=".tmp.$$"
cp -f "$built" "$out/meta-cni$tmp"
mv -f "$out/meta-cni$tmp" "$out/meta-cni"
echo "$target" > "$out/meta-cni.target$tmp"
mv -f "$out/meta-cni.target$tmp" "$out/meta-cni.target"

# Checks: static per ldd (glibc's ldd prints "not a dynamic executable" for a
# static executable and "statically linked" for a static-pie one), and alive.
if command -v ldd >/dev/null 2>&1; then
  linkage="$(ldd "$out/meta-cni" 2>&1 || true)"
  case "$linkage" in
    *"not a dynamic executable"* | *"statically linked"*) ;;
    *) say "$out/meta-cni is not static:"; echo "$linkage" >&2; exit 1 ;;
  esac
else
  say "no ldd here: linkage not checked"
fi
reply="$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$out/meta-cni")"
case "$reply" in
  *supportedVersions*) ;;
  *) say "$out/meta-cni did not answer VERSION: $reply"; exit 1 ;;
esac
# The copyright file that goes with this binary (make install, make deb):
# packaging/deb/copyright.in plus what is linked in, for this target.
case "$target" in
  "$musl") libc="musl (MIT), from the Rust $musl target's self-contained libc" ;;
  *)
    v="$(dpkg-query -W -f='${Version}' libc6-dev 2>/dev/null || echo unknown)"
    libc="GNU C Library (LGPL-2.1-or-later), libc.a of libc6-dev $v (source: Debian's glibc $v)"
    ;;
esac
"$CARGO" tree --locked -e normal,no-proc-macro --target "$target" --prefix none \
  --format '{p}|{l}' | sed -e 's/ (\*)$//' -e 's/ (proc-macro)//' | sort -u \
  | awk -F'|' '$1 !~ /^meta-cni / { n = $1; sub(/ v/, " ", n); print " " n ": " $2 }' \
  > "$out/crates.txt$tmp"
[ -s "$out/crates.txt$tmp" ] || { say "cargo tree listed no crates"; exit 1; }
awk -v libc="$libc" -v crates="$out/crates.txt$tmp" '
  /@CRATES@/ { while ((getline l < crates) > 0) print l; next }
  { gsub(/@LIBC@/, libc); print }' packaging/deb/copyright.in > "$out/copyright$tmp"
rm -f "$out/crates.txt$tmp"
mv -f "$out/copyright$tmp" "$out/copyright"

size="$(wc -c < "$out/meta-cni" | tr -d ' ')"
say "$out/meta-cni: $target, static, $size bytes"
