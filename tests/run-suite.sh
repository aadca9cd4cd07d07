#!/bin/sh
# tests/run-suite.sh: the README's test command. On a fresh Debian 12
# machine it installs the packages the build and the suite need, configures,
# builds and runs the whole suite, then the CI variants (below), and prints
# "N passed, N failed, N skipped" over all of them as its last line.
#
#   tests/run-suite.sh [BUILD_DIR]
#
# The main suite runs at the CPU's own level. Variants, after it
# (NACLIP_CI_VARIANTS picks them, default "capped asan soak valgrind fuzz";
# each meson test of a variant, each fuzz target and the soak count as
# tests):
#   capped    when the CPU is above AVX2 (AVX-512, AVX512-BF16, AMX), the
#             numeric suites (lib, parity, precision, elements) again with
#             the library capped at avx2 (NACLIP_MAX_CPU_ISA, passed on to
#             oneDNN; OPENBLAS_CORETYPE=Haswell for OpenBLAS), so that a
#             green run means green on an AVX2-only CPU too. Each level
#             run prints what `auto` resolved to there.
#   asan      BUILD_DIR-asan with -Db_sanitize=address,undefined plus
#             float-divide-by-zero, float-cast-overflow and no recovery:
#             the "lib" suite and the gst-check element test (the full-size
#             and PyTorch parity tests are left to the main build; the
#             Python element tests cannot load an ASan plugin). Leak
#             suppressions: tests/lsan.supp.
#   valgrind  the library tests of the main build under memcheck with
#             GStreamer's CI flags, glib.supp and tests/valgrind.supp:
#             zero definite or indirect leaks, zero errors. The kernels'
#             numeric tests (vision, text, segment, pamr, image, matmul)
#             and the tokenizer's (full-vocabulary goldens, thread and
#             timing tests: 11 minutes and a failed time bound under
#             memcheck) are left to ASan; the tokenizer runs under memcheck
#             through its fuzz corpus replay.
#   fuzz      BUILD_DIR-fuzz (clang, -Dfuzzers=true): each libFuzzer target
#             of tests/fuzz/ for FUZZ_SECONDS (60) from its seed corpus.
#   soak      tests/soak/soak.py for SOAK_SECONDS (300) when the element
#             was built, in the background while the variants after it
#             run (valgrind's time bounds are ten times the main suite's
#             and each fuzz target runs for a fixed time; the soak's
#             element runs async, so a busy core makes it infer fewer
#             frames and it passes every frame all the same); its result
#             is taken at the end.
# Each variant prints how long it took.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build-suite"}
t_start=$(date +%s)

"$top/tests/install-deps.sh"

if [ -d "$build" ]; then
  meson setup --reconfigure "$build" "$top"
else
  meson setup "$build" "$top"
fi
meson compile -C "$build"

naclip="$build/src/tool/naclip"
# Prints the CPU level the library runs at and what auto resolves to.
describe_level () {
  "$naclip" info | sed -n 's/^cpu isa used: /=== CPU level: /p; s/^precision auto: /=== precision auto: /p; s/^precisions: /=== precisions: /p'
}

status=0
echo "=== packages and build: $(($(date +%s) - t_start)) s"
began=$(date +%s)
describe_level
meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?
echo "=== main suite: $(($(date +%s) - began)) s"

# Every variant appends "json PATH" (a meson test log to count) or
# "result NAME OK|FAIL|SKIP" (one more test) to $results.
results="$build/meson-logs/ci-results.txt"
echo "json $build/meson-logs/testlog.json" > "$results"

# Runs "$@"; on failure records NAME as a failed test and sets status.
step () {
  name=$1
  shift
  if ! "$@"; then
    echo "result $name FAIL" >> "$results"
    status=1
    return 1
  fi
}

setup_dir () {
  dir=$1
  shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$top" "$@"
  else
    meson setup "$dir" "$top" "$@"
  fi
}

run_capped () {
  level=$("$naclip" info | sed -n 's/^cpu isa: //p')
  case $level in
    sse41|avx2)
      echo "the CPU is at $level: no capped run"
      return 0 ;;
  esac
  (
    export NACLIP_MAX_CPU_ISA=avx2 OPENBLAS_CORETYPE=Haswell
    describe_level
    meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
        --logbase capped-avx2 --suite lib --suite parity --suite precision \
        --suite elements
  ) || status=1
  echo "json $build/meson-logs/capped-avx2.json" >> "$results"
}

run_asan () {
  asan="$build-asan"
  flags="-fno-sanitize-recover=all -fsanitize=float-divide-by-zero,float-cast-overflow"
  step asan-build setup_dir "$asan" -Db_sanitize=address,undefined \
      -Dc_args="$flags" -Dc_link_args="$flags" -Dfull-size-tests=false \
      -Dreference-tests=disabled || return 0
  step asan-build nice meson compile -C "$asan" || return 0
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:print_summary=1"
  export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  echo "json $asan/meson-logs/asan-lib.json" >> "$results"
  meson test -C "$asan" --no-rebuild --print-errorlogs --num-processes 2 \
      --timeout-multiplier 4 --logbase asan-lib --suite lib || status=1
  if [ -f "$asan/tests/elements/element-naclipseg" ]; then
    # The registry is scanned in the test process: gst-plugin-scanner is
    # not instrumented and cannot load the ASan plugin (a registry written
    # by such a scan lists the plugin as broken). GLib has no frame
    # pointers: only the slow unwinder sees gst_update_registry in the
    # stack of the allocation that tests/lsan.supp suppresses.
    rm -f "$asan"/tests/elements/registry-*.bin
    echo "json $asan/meson-logs/asan-elements.json" >> "$results"
    ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
    NACLIP_TEST_SLOWDOWN=4 GST_REGISTRY_FORK=no meson test -C "$asan" --no-rebuild \
        --print-errorlogs --timeout-multiplier 4 --logbase asan-elements \
        element-naclipseg || status=1
  fi
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
}

run_valgrind () {
  # GStreamer's CI runs memcheck with G_SLICE=always-malloc,
  # G_DEBUG=gc-friendly and ORC_CODE=backup. The suite's environment sets
  # G_DEBUG itself (fatal-warnings), so the wrapper sets both.
  vg="env G_DEBUG=fatal-warnings,gc-friendly G_SLICE=always-malloc"
  vg="$vg ORC_CODE=backup valgrind --leak-check=full"
  vg="$vg --errors-for-leak-kinds=definite,indirect --error-exitcode=20"
  vg="$vg --suppressions=/usr/share/glib-2.0/valgrind/glib.supp"
  vg="$vg --suppressions=$top/tests/valgrind.supp"
  for supp in /usr/share/gstreamer-1.0/gst.supp \
      /usr/lib/x86_64-linux-gnu/gstreamer1.0/gst.supp; do
    if [ -f "$supp" ]; then
      vg="$vg --suppressions=$supp"
    fi
  done
  # meson appends the wrapper's name ("env") to the log's base name.
  echo "json $build/meson-logs/valgrind-lib-env.json" >> "$results"
  # -s skips the full-size load (600 MB scanned at memcheck speed).
  NACLIP_TEST_SLOWDOWN=60 meson test -C "$build" --no-rebuild \
      --print-errorlogs --num-processes 2 --timeout-multiplier 10 \
      --logbase valgrind-lib --wrap="$vg" --test-args="-s /model/full-size" \
      safetensors model classes cache params npy ops bad-inputs \
    || status=1
  echo "json $build/meson-logs/valgrind-fuzz-env.json" >> "$results"
  meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
      --timeout-multiplier 10 --logbase valgrind-fuzz --wrap="$vg" \
      --suite fuzz || status=1
}

run_fuzz () {
  fz="$build-fuzz"
  targets=$(ls "$top/tests/fuzz/corpus")
  reconfigure=""
  if [ -d "$fz" ]; then
    reconfigure=--reconfigure
  fi
  step fuzz-build env CC=clang meson setup $reconfigure "$fz" "$top" \
      -Dfuzzers=true -Dgst=disabled -Dreference-tests=disabled || return 0
  step fuzz-build nice ninja -C "$fz" $(for t in $targets; do
      echo "tests/fuzz/fuzz-$t tests/fuzz/replay-$t"; done) || return 0
  echo "json $fz/meson-logs/fuzz.json" >> "$results"
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} meson test -C "$fz" --no-rebuild \
      --print-errorlogs --num-processes 2 --logbase fuzz --suite fuzz \
    || status=1
  /usr/bin/python3 - "$fz/meson-logs/fuzz.json" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    out = (r.get("stdout") or "") + (r.get("stderr") or "")
    m = re.search(r"stat::number_of_executed_units: (\d+)", out)
    if m:
        print(f"{r['name']}: {int(m.group(1))} executions, {r['result']}")
PY
}

# Starts the soak in the background (its pid in $soak).
soak=""
start_soak () {
  if [ ! -f "$build/gst/libgstnaclip.so" ]; then
    echo "result soak SKIP" >> "$results"
    return 0
  fi
  nice /usr/bin/python3 "$top/tests/soak/soak.py" \
      --duration "${SOAK_SECONDS:-300}" --build "$build" \
      > "$build/meson-logs/soak.txt" 2>&1 &
  soak=$!
  echo "running in the background"
}

finish_soak () {
  echo "=== soak"
  if wait "$soak"; then
    echo "result soak OK" >> "$results"
  else
    echo "result soak FAIL" >> "$results"
    status=1
  fi
  tail -n 8 "$build/meson-logs/soak.txt"
}

for variant in ${NACLIP_CI_VARIANTS-capped asan soak valgrind fuzz}; do
  echo "=== variant: $variant"
  began=$(date +%s)
  case $variant in
    capped) run_capped ;;
    asan) run_asan ;;
    valgrind) run_valgrind ;;
    fuzz) run_fuzz ;;
    soak) start_soak ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
  echo "=== variant $variant: $(($(date +%s) - began)) s"
done
if [ -n "$soak" ]; then
  finish_soak
fi
echo "=== total: $(($(date +%s) - t_start)) s"

/usr/bin/python3 - "$results" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for entry in open(sys.argv[1]):
    kind, value = entry.split(None, 1)
    value = value.strip()
    if kind == "result":
        name, result = value.rsplit(" ", 1)
        results = [result]
    elif not os.path.exists(value):
        print(f"missing test log {value}")
        results = ["FAIL"]
    else:
        results = [json.loads(line)["result"] for line in open(value)]
    for r in results:
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
