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
# Offline, when no model is found and none can be downloaded, it says so in
# one line and runs the same pipeline with the colour model that
# `naclip make-colour-model` builds (it knows colour names only; it is not
# CLIP): colour classes on videotestsrc's SMPTE colour bars by default,
# which the element and the frame overlay draw in their own colours
# (class-colors, --class-colors).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build-demo"
out=${NACLIP_DEMO_OUT:-"$top/demo-out"}
frames=${NACLIP_DEMO_FRAMES:-30}
source=${1:-}

say() {
  printf '\n== %s\n' "$*"
}

say "Checking the packages"
# The suite's packages, with the "ugly" set for x264enc, the H.264 encoder
# (Debian's -base and -good have none; mp4mux is in -good).
"$top/tests/install-deps.sh"

say "Building into $build"
if [ -d "$build" ]; then
  meson setup --reconfigure "$build" "$top" >/dev/null
else
  meson setup "$build" "$top" >/dev/null
fi
meson compile -C "$build"

naclip="$build/src/tool/naclip"
model=${NACLIP_MODEL:-"$("$top/data/naclip-download-model" --print-dir)"}
colour_model=false
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/config.json" ] \
    || [ ! -f "$model/merges.txt" ]; then
  say "Fetching the model into $model"
  status=0
  "$top/data/naclip-download-model" --dir "$model" || status=$?
  if [ "$status" -ne 0 ]; then
    model="$build/colour-model"
    echo "demo.sh: no model, and none could be downloaded" \
      "(naclip-download-model exited with $status): using the colour model" \
      "(colour names only, not CLIP) in $model." >&2
    "$naclip" make-colour-model "$model"
    colour_model=true
  fi
fi

# The overlay colours of classes by name (the element's class-colors);
# empty: the PASCAL VOC palette.
colours=""
if $colour_model; then
  # The bars of videotestsrc's SMPTE pattern, left to right, and the black
  # of its bottom rows, each drawn in its own colour.
  classes=${NACLIP_DEMO_CLASSES:-"white,yellow,cyan,green,magenta,red,blue,black"}
  colours="white:#ffffff,yellow:#ffff00,cyan:#00ffff,green:#00ff00"
  colours="$colours,magenta:#ff00ff,red:#ff0000,blue:#0000ff,black:#000000"
  pattern=smpte
elif [ -n "$source" ]; then
  classes=${NACLIP_DEMO_CLASSES:-"person,sky,tree,grass,road,car,building"}
else
  # videotestsrc's "ball" pattern: a white disc moving on black.
  classes=${NACLIP_DEMO_CLASSES:-"white ball,black background"}
  pattern=ball
fi

mkdir -p "$out"
export GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
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
    src="videotestsrc pattern=$pattern num-buffers=$frames"
    what="a generated clip ($frames frames of videotestsrc $pattern)" ;;
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
    class-colors=\"$colours\" \
  ! videoconvert ! x264enc ! mp4mux ! filesink location=\"$out/demo.mp4\"

say "Segmenting one frame into $out/frame-overlay.png"
eval gst-launch-1.0 -q "$src" ! $scale ! videoconvert \
  ! video/x-raw,format=RGB ! pngenc snapshot=true \
  ! filesink location=\"$out/frame.png\"
"$naclip" segment --model "$model" --classes "$classes" \
  --class-colors "$colours" \
  --output "$out/frame-labels.png" --overlay "$out/frame-overlay.png" \
  "$out/frame.png"

say "Done"
ls -l "$out/demo.mp4" "$out/frame.png" "$out/frame-overlay.png" \
  "$out/frame-labels.png"
