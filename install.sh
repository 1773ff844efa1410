#!/usr/bin/env bash
# Installs ncodec and everything it needs (Debian packages when run as root, Python packages via pip).
set -euo pipefail
cd "$(dirname "$0")"
DEBIAN_PACKAGES="libusb-1.0-0 ffmpeg libavif-bin libjxl-tools"   # open3d's runtime; eval baselines (x265, AVIF, JPEG XL)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $DEBIAN_PACKAGES >/dev/null
elif ! ldconfig -p 2>/dev/null | grep -q libusb-1.0; then
  echo "install.sh: not root, so Debian packages were not installed; please run: sudo apt-get install $DEBIAN_PACKAGES" >&2
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]"
