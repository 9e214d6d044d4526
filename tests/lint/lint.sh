#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The formatter and the linter, as tests.
#   lint.sh format SOURCE_ROOT              clang-format --dry-run on every C++ file (the whole tree)
#   lint.sh tidy SOURCE_ROOT BUILD_DIR      clang-tidy on the .cpp files changed since the commit in
#                                           .ci/tidy-clean (the whole tree was clean there), or on
#                                           every file with KIPVS_TIDY_ALL=1
# Both exit non-zero on any finding, printing it.
set -euo pipefail
mode=$1 root=$2
cd "$root"
cxx_files() { git ls-files '*.cpp' '*.h' | grep -Ev '^(subprojects)/'; }
case "$mode" in
format)
  cxx_files | xargs clang-format --dry-run --Werror
  echo "lint: $(cxx_files | wc -l) files formatted as .clang-format says"
  ;;
tidy)
  build=$3
  tidy=$(command -v clang-tidy-16 || true)
  [ -n "$tidy" ] || { echo "lint: clang-tidy-16 is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
  libraries='^(base|config|daemon|ipvs|log|proxy|status|watch)/.*\.cpp$'
  base=$(cat .ci/tidy-clean 2>/dev/null || true)
  if [ "${KIPVS_TIDY_ALL:-0}" = 1 ] || [ -z "$base" ] || ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    files=$(git ls-files | grep -E "$libraries" || true)
  else
    files=$(git diff --name-only --diff-filter=AMR "$base" HEAD -- | grep -E "$libraries" || true)
    files+=$'\n'$(git diff --name-only --diff-filter=AMR -- | grep -E "$libraries" || true)
  fi
  files=$(echo "$files" | sort -u | sed '/^$/d')
  if [ -z "$files" ]; then
    echo "lint: no library file changed since ${base:0:12}"
    exit 0
  fi
  # Compiler warnings are the -Werror build's job (-w). Boost 1.74's Asio does not detect
  # clang's C++20 coroutines by itself.
  echo "$files" | xargs -P "$(nproc)" -n 2 "$tidy" -p "$build" --quiet --extra-arg=-w \
    --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1 2>/dev/null \
    | tee /dev/stderr | { ! grep -qE '(error|warning):'; }
  echo "lint: clang-tidy clean on $(echo "$files" | wc -l) files"
  ;;
*)
  echo "usage: lint.sh format|tidy SOURCE_ROOT [BUILD_DIR]" >&2
  exit 2
  ;;
esac
