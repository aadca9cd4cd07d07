#!/bin/sh
# tests/install-deps.sh [--build] [EXTRA_PACKAGE...]: installs, with
# apt-get (through sudo when not root), the Debian 12 packages that
# building naclipseg and running its suite need, plus the extra packages
# named, when any of them is missing. Used by tests/run-suite.sh and
# data/demo.sh. With --build, only what building and running naclip and
# the plugin need (data/Containerfile). -ugly has x264enc, which naclip
# annotate's overlay videos and the demo use; parallel and python3-yaml
# run the examples of data/annotate-* in the suite.
set -eu

build="meson ninja-build pkg-config gcc libglib2.0-dev libjson-glib-dev
  libopenblas-openmp-dev libdnnl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly python3"
suite="clang libclang-rt-14-dev clang-format
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  python3-torch python3-numpy python3-pil python3-gst-1.0 python3-regex
  python3-yaml parallel valgrind"
if [ "${1:-}" = --build ]; then
  shift
  suite=""
fi
packages="$build $suite $*"

# nodejs and npm count as present when their commands are: a Node.js
# installed outside Debian (NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package) serves tests/bench/bench.py as well.
missing=""
for p in $packages; do
  case $p in
    nodejs) command -v node > /dev/null && continue ;;
    npm) command -v npm > /dev/null && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  echo "Installing:$missing"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
