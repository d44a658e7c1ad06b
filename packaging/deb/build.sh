#!/bin/sh
# Turn an installed tree into meta-cni_<version>_<arch>.deb.
#   build.sh ROOT OUT.deb      (env: VERSION, DEB_ARCH, DEB_MAINTAINER)
# ROOT already holds what `make install-files` lays out (PREFIX=/usr):
#   /opt/cni/bin/meta-cni, /usr/share/doc/meta-cni/{README.md,copyright,examples/*.conf,docs/*.md}
# This adds the Debian changelog, the lintian overrides and DEBIAN/{control,
# md5sums}, then packs with `dpkg-deb --root-owner-group` (no fakeroot
# needed). No maintainer scripts: nothing to set up, and nothing is put in
# /etc/cni/net.d (a .conf there is a live network for the runtime).
#
# The changelog's date (and the files' times in the package) come from
# SOURCE_DATE_EPOCH, else the last commit's time, so a rebuild of the same
# commit gives the same package.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$1"
out="$2"
: "${VERSION:?}" "${DEB_ARCH:?}" "${DEB_MAINTAINER:?}"
umask 022

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)"
fi
export SOURCE_DATE_EPOCH
date_r="$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"

doc="$root/usr/share/doc/meta-cni"
[ -x "$root/opt/cni/bin/meta-cni" ] || { echo "deb: $root has no opt/cni/bin/meta-cni" >&2; exit 1; }
[ -f "$doc/copyright" ] || { echo "deb: $root has no copyright file" >&2; exit 1; }

# A native package's changelog (Debian policy 12.7): one entry for this version.
printf '%s\n' \
  "meta-cni ($VERSION) unstable; urgency=medium" \
  "" \
  "  * meta-cni $VERSION. See /usr/share/doc/meta-cni/README.md." \
  "" \
  " -- $DEB_MAINTAINER  $date_r" | gzip -9n > "$doc/changelog.gz"

install -d "$root/usr/share/lintian/overrides"
install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/meta-cni"

install -d "$root/DEBIAN"
# Installed-Size: KiB, as dpkg-gencontrol counts it (each file rounded up).
size_k="$(find "$root" -path "$root/DEBIAN" -prune -o \( -type f -o -type l \) -printf '%s\n' \
  | awk '{ k += int(($1 + 1023) / 1024) } END { print k + 0 }')"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$DEB_ARCH/" \
    -e "s|@MAINTAINER@|$DEB_MAINTAINER|" -e "s/@INSTALLED_SIZE@/$size_k/" \
    "$here/control.in" > "$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort \
  | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

# Same times for every file, for a reproducible package.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out"
