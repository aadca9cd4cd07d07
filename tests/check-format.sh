#!/bin/sh
# Fails if a C file of the project is not formatted with the repo's
# .clang-format at the top of the repository.
set -eu
cd "$1"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src gst tests -name '*.[ch]')
[ -n "$files" ] || exit 0
exec clang-format --dry-run --Werror $files
