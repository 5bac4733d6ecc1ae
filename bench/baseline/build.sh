#!/usr/bin/env bash
# Compile the libtorch-direct baseline of bench/ops.bench.ts into bench/baseline/build/ (gitignored).
# Uses the project's one libtorch resolver (scripts/libtorch.mjs), so LIBTORCH / LIBTORCH_USE_PYTORCH /
# the system install are honoured exactly as for the addon. Rebuilds only when the source is newer.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="$here/ops_baseline.cc"
out="$here/build/ops_baseline"
if [[ -x "$out" && "$out" -nt "$src" && "${1:-}" != "--force" ]]; then echo "$out"; exit 0; fi
mkdir -p "$here/build"
incs=(); for d in $(node "$root/scripts/libtorch.mjs" --include-dirs); do incs+=("-I$d"); done
defs=(); for d in $(node "$root/scripts/libtorch.mjs" --defines); do defs+=("-D$d"); done
# shellcheck disable=SC2207
links=($(node "$root/scripts/libtorch.mjs" --link-flags))
echo "building $out (g++ -O2, libtorch $(node "$root/scripts/libtorch.mjs" --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).version)'))" >&2
g++ -std=c++17 -O2 -Wno-deprecated-declarations "${defs[@]}" "${incs[@]}" "$src" -o "$out.tmp" "${links[@]}" -pthread
mv "$out.tmp" "$out"
echo "$out"
