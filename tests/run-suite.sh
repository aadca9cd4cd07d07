#!/bin/sh
# tests/run-suite.sh: the README's test command. On a fresh Debian 12
# machine it installs the packages the build and the suite need, configures,
# builds and runs the whole suite, then prints "N passed, N failed".
#
#   tests/run-suite.sh [BUILD_DIR]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build-suite"}

packages="meson ninja-build pkg-config gcc clang clang-format
  libglib2.0-dev libjson-glib-dev libopenblas-openmp-dev liborc-0.4-dev
  liborc-0.4-dev-bin libdnnl-dev libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  python3 python3-torch python3-numpy python3-pil python3-gst-1.0 python3-regex
  valgrind"

missing=""
for p in $packages; do
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

if [ -d "$build" ]; then
  meson setup --reconfigure "$build" "$top"
else
  meson setup "$build" "$top"
fi
meson compile -C "$build"

status=0
meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?

/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
