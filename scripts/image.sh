#!/usr/bin/env bash
# make image: rtlab as an OCI image, built offline from Debian packages and the locked
# wheels (issue 34). No registry is pulled from:
#   1. a Debian rootfs made by mmdebstrap from the host's apt mirror, with python3 and
#      the packages a containerised collect needs (IMAGE_PACKAGES below), and a venv at
#      /opt/rtlab holding exactly requirements.lock, installed from a wheelhouse built
#      on this host (pip wheel) with --no-index. Cached as a tar keyed by the hash of
#      requirements.lock, IMAGE_PACKAGES and this script's base recipe, so only the
#      first build takes minutes;
#   2. buildah: that tar as the image's one base layer, rtlab's own wheel (built from
#      this checkout) installed on top, entrypoint `rtlab`;
#   3. committed to containers-storage (podman's store) as localhost/rtlab/rtlab:<tag>
#      and :latest, <tag> the hash of the base and of rtlab's sources.
# Prints the image reference as its last line. make purge removes the images
# (repository localhost/rtlab/rtlab) and the cache (rtlab/host/image_build.py).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "make image: run as root (mmdebstrap and buildah build a rootfs)" >&2
  exit 1
fi

CACHE=${RTLAB_IMAGE_CACHE:-/var/cache/rtlab/image}
REPO=localhost/rtlab/rtlab
SUITE=${RTLAB_IMAGE_SUITE:-bookworm}
# What a containerised collect runs: the runtimes' CLIs (oci), containerd's ctr (ctr;
# the shims stay the node's), busybox-static (the offline workload rootfs), iproute2 (the
# CRI's network checks), procps/util-linux (ps, mount, setpriv). Keep in step with
# rtlab/host/image_build.py IMAGE_PACKAGES (a unit test compares them).
IMAGE_PACKAGES="python3 python3-venv runc crun runsc containerd busybox-static iproute2 procps util-linux ca-certificates"
PYTHON=${PYTHON:-.venv/bin/python}

missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v buildah >/dev/null || missing+=(buildah)
if [ ${#missing[@]} -gt 0 ]; then
  echo "image: installing ${missing[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
mkdir -p "$CACHE"
if [ ! -x "$PYTHON" ]; then
  # a fresh clone has no .venv: pip in a throw-away venv of Debian's python3 builds the wheels
  PYTHON="$CACHE/pip-venv/bin/python"
  if [ ! -x "$PYTHON" ]; then
    /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || {
      apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv; }
    echo "image: no .venv here: a venv for pip at $CACHE/pip-venv"
    /usr/bin/python3 -m venv "$CACHE/pip-venv"
  fi
fi

recipe_version=1
base_key=$( { cat requirements.lock; echo "$IMAGE_PACKAGES $SUITE $recipe_version"; } | sha256sum | cut -c1-16)
base="$CACHE/base-$base_key.tar"
mkdir -p "$CACHE"
if [ ! -s "$base" ]; then
  wheels="$CACHE/wheels-$base_key"
  if [ ! -s "$wheels/.done" ]; then
    echo "image: building the locked wheels into $wheels"
    rm -rf "$wheels"; mkdir -p "$wheels"
    "$PYTHON" -m pip wheel -q --no-deps -r requirements.lock -w "$wheels"
    cp requirements.lock "$wheels/requirements.lock"
    touch "$wheels/.done"
  fi
  echo "image: mmdebstrap $SUITE with: $IMAGE_PACKAGES"
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  comma=$(echo "$IMAGE_PACKAGES" | tr ' ' ',')
  rm -f "$base.tmp"
  mmdebstrap --quiet --variant=minbase --format=tar --include="$comma" \
    --customize-hook="cp -a '$wheels' \"\$1/tmp/wheels\"" \
    --customize-hook='chroot "$1" python3 -m venv /opt/rtlab' \
    --customize-hook='chroot "$1" /opt/rtlab/bin/python -m pip install -q --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.lock' \
    --customize-hook='rm -rf "$1/tmp/wheels" "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*' \
    "$SUITE" "$base.tmp" "$mirror"
  mv "$base.tmp" "$base"
fi

# rtlab itself: a wheel of this checkout (pip fetches setuptools to build it)
# its tag: the base and every file of rtlab's package (committed or not)
src_key=$( { echo "$base_key"; find rtlab pyproject.toml -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
tag="$REPO:$src_key"
if buildah inspect --type image "$tag" >/dev/null 2>&1; then
  buildah tag "$tag" "$REPO:latest"
  echo "image: $tag is up to date"
  echo "$tag"
  exit 0
fi
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
# built from a copy, so setuptools' build/ and egg-info never land in the checkout
mkdir "$dist/src"
cp -r pyproject.toml rtlab "$dist/src/"
find "$dist/src" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m pip wheel -q --no-deps "$dist/src" -w "$dist" 2>&1 | grep -v "^WARNING: Location" || true
ls "$dist"/rtlab-*.whl >/dev/null
ctr=$(buildah from --quiet scratch)
trap 'rm -rf "$dist"; buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$base" / >/dev/null
buildah copy --quiet "$ctr" "$dist"/rtlab-*.whl /tmp/dist/ >/dev/null
buildah run --network none "$ctr" -- sh -c '/opt/rtlab/bin/python -m pip install -q --no-index --no-deps /tmp/dist/*.whl && rm -rf /tmp/dist'
buildah config \
  --entrypoint '["/opt/rtlab/bin/rtlab"]' --cmd '["doctor"]' \
  --env PATH=/opt/rtlab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env RTLAB_IMAGE="$tag" \
  --workingdir / \
  --label org.opencontainers.image.title=rtlab \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD)" \
  --label "io.rtlab.base-key=$base_key" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
trap 'rm -rf "$dist"' EXIT
buildah tag "$tag" "$REPO:latest"
echo "image: built $tag from $base"
echo "$tag"
