#!/bin/sh
# Builds what the containerd test suite (tests/containerd) needs besides
# containerd itself, into $TARGET/cri-tools ($TARGET: $CARGO_TARGET_DIR, else
# target/ in the repository):
#
#   cri-client          the CRI v1 client (tests/cri-client), a release build
#                       made in $TARGET/cri-client
#   pause-image.tar     an OCI image layout (one layer: a static pause
#                       program built from tests/containerd/pause.c), for
#                       `ctr images import`; no registry is needed
#   pause-image.ref     the name that image is imported under
#
# Needs cargo, protoc (the CRI bindings are generated at build time), gcc with
# a static libc (libc6-dev), tar and sha256sum. Idempotent, and quick when
# everything is up to date: cargo decides for the client, file times for the
# image (rebuilt when pause.c or this script is newer than the tarball).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
OUT=$TARGET/cri-tools
CARGO=${CARGO:-cargo}
REF=localhost/meta-cni-pause:test
SRC=$ROOT/tests/containerd/pause.c
SELF=$ROOT/scripts/build-cri-tools.sh

mkdir -p "$OUT"

# --- cri-client -------------------------------------------------------------
if ! command -v protoc >/dev/null 2>&1 && [ -z "${PROTOC:-}" ]; then
    echo "build-cri-tools: protoc not found (apt-get install protobuf-compiler)" >&2
    exit 1
fi
BUILT=$TARGET/cri-client/release/cri-client
[ -f "$BUILT" ] || echo "build-cri-tools: building cri-client (the first build takes a few minutes)"
"$CARGO" build --quiet --release --locked \
    --manifest-path "$ROOT/tests/cri-client/Cargo.toml" \
    --target-dir "$TARGET/cri-client"
if ! cmp -s "$BUILT" "$OUT/cri-client"; then
    cp "$BUILT" "$OUT/cri-client.new"
    chmod 0755 "$OUT/cri-client.new"
    mv -f "$OUT/cri-client.new" "$OUT/cri-client"
    echo "build-cri-tools: $OUT/cri-client"
fi

# --- pause image ------------------------------------------------------------
TAR=$OUT/pause-image.tar
up_to_date() {
    [ -f "$TAR" ] && [ -f "$OUT/pause-image.ref" ] || return 1
    [ "$(cat "$OUT/pause-image.ref")" = "$REF" ] || return 1
    # `find -newer` is POSIX: an input newer than the tarball means rebuild.
    [ -z "$(find "$SRC" "$SELF" -newer "$TAR")" ]
}
if up_to_date; then
    exit 0
fi

case $(uname -m) in
    x86_64) ARCH=amd64 ;;
    aarch64) ARCH=arm64 ;;
    *) ARCH=$(uname -m) ;;
esac
WORK=$OUT/pause-build
rm -rf "$WORK"
mkdir -p "$WORK/rootfs" "$WORK/layout/blobs/sha256"
BLOBS=$WORK/layout/blobs/sha256

${CC:-gcc} -static -O2 -s -o "$WORK/rootfs/pause" "$SRC"
chmod 0755 "$WORK/rootfs/pause"

# A blob: file -> its digest (hex) in $DIGEST and size in $SIZE, stored
# under blobs/sha256/<digest>.
blob() {
    DIGEST=$(sha256sum "$1" | cut -d' ' -f1)
    SIZE=$(wc -c <"$1" | tr -d ' ')
    mv -f "$1" "$BLOBS/$DIGEST"
}

# The layer: one uncompressed tar holding /pause, byte-for-byte the same
# for the same program (fixed owner, time and order).
tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -C "$WORK/rootfs" -cf "$WORK/layer.tar" pause
blob "$WORK/layer.tar"
LAYER=$DIGEST LAYER_SIZE=$SIZE

printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$ARCH" "$LAYER" >"$WORK/config.json"
blob "$WORK/config.json"
CONFIG=$DIGEST CONFIG_SIZE=$SIZE

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$CONFIG" "$CONFIG_SIZE" "$LAYER" "$LAYER_SIZE" >"$WORK/manifest.json"
blob "$WORK/manifest.json"
MANIFEST=$DIGEST MANIFEST_SIZE=$SIZE

printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$MANIFEST" "$MANIFEST_SIZE" "$ARCH" "$REF" >"$WORK/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$WORK/layout/oci-layout"

tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -C "$WORK/layout" -cf "$TAR.new" oci-layout index.json blobs
mv -f "$TAR.new" "$TAR"
printf '%s\n' "$REF" >"$OUT/pause-image.ref"
rm -rf "$WORK"
echo "build-cri-tools: $TAR ($REF)"
