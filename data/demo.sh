#!/bin/sh
# data/demo.sh: the README's main command. On a fresh Debian 12 machine it
# installs the packages it needs (apt-get, through sudo when not root),
# builds naclipseg with meson into build-demo/, fetches the default model
# with naclip-download-model if it is missing, and annotates a sample:
#   demo-out/demo.mp4          the clip with every frame segmented
#                              (naclipseg element, H.264 in MP4)
#   demo-out/frame.png         one frame of it, as it was
#   demo-out/frame-overlay.png that frame segmented by `naclip segment`,
#                              blended with its colours, with a legend
#   demo-out/frame-labels.png  its colour label map
#
#   data/demo.sh [SOURCE]
#     no SOURCE      a clip generated with videotestsrc
#     /dev/videoN    a camera (100 frames)
#     FILE           a video or an image file
#
# Environment: NACLIP_MODEL (model directory; default: where
# naclip-download-model puts it), NACLIP_DEMO_CLASSES (default "white
# ball,black background" for the generated clip, else
# "person,sky,tree,grass,road,car,building"), NACLIP_DEMO_OUT (default
# demo-out), NACLIP_DEMO_FRAMES (default 30).
# Offline, it stops with naclip-download-model's message and its non-zero
# exit status.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build-demo"
out=${NACLIP_DEMO_OUT:-"$top/demo-out"}
if [ -n "${1:-}" ]; then
  classes=${NACLIP_DEMO_CLASSES:-"person,sky,tree,grass,road,car,building"}
else
  # videotestsrc's "ball" pattern: a white disc moving on black.
  classes=${NACLIP_DEMO_CLASSES:-"white ball,black background"}
fi
frames=${NACLIP_DEMO_FRAMES:-30}
source=${1:-}

say() {
  printf '\n== %s\n' "$*"
}

say "Checking the packages"
# The suite's packages plus the "ugly" set for x264enc, the H.264 encoder
# (Debian's -base and -good have none; mp4mux is in -good).
"$top/tests/install-deps.sh" gstreamer1.0-plugins-ugly

say "Building into $build"
if [ -d "$build" ]; then
  meson setup --reconfigure "$build" "$top" >/dev/null
else
  meson setup "$build" "$top" >/dev/null
fi
meson compile -C "$build"

model=${NACLIP_MODEL:-"$("$top/data/naclip-download-model" --print-dir)"}
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/config.json" ] \
    || [ ! -f "$model/merges.txt" ]; then
  say "Fetching the model into $model"
  status=0
  "$top/data/naclip-download-model" --dir "$model" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "demo.sh: the model is missing and could not be downloaded" \
      "(naclip-download-model exited with $status)." >&2
    exit "$status"
  fi
fi

mkdir -p "$out"
export GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
naclip="$build/src/tool/naclip"
if ! gst-inspect-1.0 naclipseg >/dev/null 2>&1; then
  echo "demo.sh: the naclipseg element is not in $build/gst" >&2
  exit 1
fi
if ! gst-inspect-1.0 x264enc >/dev/null 2>&1; then
  echo "demo.sh: x264enc is missing (package gstreamer1.0-plugins-ugly)" >&2
  exit 1
fi

# The source part of the pipelines, before the caps filter.
case "$source" in
  "")
    src="videotestsrc pattern=ball num-buffers=$frames"
    what="a generated clip ($frames frames of videotestsrc)" ;;
  /dev/video*)
    src="v4l2src device=$source num-buffers=$frames ! videoconvert"
    what="camera $source ($frames frames)" ;;
  *.png|*.PNG|*.jpg|*.JPG|*.jpeg|*.JPEG)
    src="filesrc location=\"$source\" ! decodebin ! videoconvert ! imagefreeze num-buffers=$frames"
    what="image $source" ;;
  *)
    src="filesrc location=\"$source\" ! decodebin ! videoconvert"
    what="video $source" ;;
esac
# Everything is scaled to 640x360 (letterboxed) before the element.
if [ -z "$source" ]; then
  scale="video/x-raw,width=640,height=360,framerate=10/1"
else
  scale="videoscale ! video/x-raw,width=640,height=360"
fi

say "Annotating $what into $out/demo.mp4"
eval gst-launch-1.0 -e -q "$src" ! $scale ! videoconvert \
  ! naclipseg model-file=\"$model\" classes=\"$classes\" \
  ! videoconvert ! x264enc ! mp4mux ! filesink location=\"$out/demo.mp4\"

say "Segmenting one frame into $out/frame-overlay.png"
eval gst-launch-1.0 -q "$src" ! $scale ! videoconvert \
  ! video/x-raw,format=RGB ! pngenc snapshot=true \
  ! filesink location=\"$out/frame.png\"
"$naclip" segment --model "$model" --classes "$classes" \
  --output "$out/frame-labels.png" --overlay "$out/frame-overlay.png" \
  "$out/frame.png"

say "Done"
ls -l "$out/demo.mp4" "$out/frame.png" "$out/frame-overlay.png" \
  "$out/frame-labels.png"
