#!/usr/bin/env bash
# Idempotent setup: system packages (libtorch) when missing, npm dependencies, the native addon, the
# TypeScript build. Every README command runs this first; a second run does nothing it need not do.
#   --test   also what only the tests need: a Chromium for the browser tests of `spark serve` (npm test)
set -euo pipefail
cd "$(dirname "$0")/.."

for_tests=0
for a in "$@"; do
  case "$a" in
    --test) for_tests=1 ;;
    *) echo "setup: unknown option $a (known: --test)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

is_debian_like() { [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
  # apt-get update only when a package is actually missing
  if [ -z "${_APT_UPDATED:-}" ]; then as_root apt-get update -qq >/dev/null; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_pkgs=()
# 1. libtorch, through the one resolver (LIBTORCH, LIBTORCH_USE_PYTORCH=1, or the system package)
if ! node scripts/libtorch.mjs --check >/dev/null 2>&1; then
  if [ -z "${LIBTORCH:-}" ] && [ "${LIBTORCH_USE_PYTORCH:-}" != 1 ] && is_debian_like; then
    need_pkgs+=(libtorch-dev)
  else
    node scripts/libtorch.mjs --check  # prints the three ways and fails
  fi
fi
# Debian's libtorch multiplies with the reference BLAS unless OpenBLAS is present (~20x slower).
if is_debian_like && [ -z "${LIBTORCH:-}" ] && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then need_pkgs+=(libopenblas0-pthread); fi
# Debian's libtorch compiles c10d (multi-process training) only with gloo's headers (libgloo-dev);
# pytorch.org's libtorch ships its own, so this applies to the system package only.
if is_debian_like && [ -z "${LIBTORCH:-}" ] && [ "${LIBTORCH_USE_PYTORCH:-}" != 1 ] && ! dpkg -s libgloo-dev >/dev/null 2>&1; then need_pkgs+=(libgloo-dev); fi
# toolchain for the addon
command -v g++ >/dev/null || need_pkgs+=(g++)
command -v make >/dev/null || need_pkgs+=(make)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if is_debian_like; then
    log "installing ${need_pkgs[*]} (apt)"
    apt_install "${need_pkgs[@]}" || { echo "setup: could not install ${need_pkgs[*]}; run as root or install them yourself" >&2; exit 1; }
  else
    echo "setup: missing ${need_pkgs[*]} and this is not Debian/Ubuntu; install them (or set LIBTORCH) and rerun" >&2; exit 1
  fi
fi
log "$(node scripts/libtorch.mjs --check)"

# 1b. tests only: a real browser for spark serve's page (driven by playwright-core). Not fatal: where it
# cannot be installed, those tests skip and say why.
has_chromium() { [ -n "${SPARKTS_CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; }
if [ "$for_tests" = 1 ] && ! has_chromium; then
  if is_debian_like; then
    log "installing chromium (apt), for the browser tests of spark serve"
    apt_install chromium || log "could not install chromium (not root?); the browser tests of spark serve will be skipped"
  else
    log "no chromium and this is not Debian/Ubuntu; the browser tests of spark serve will be skipped (SPARKTS_CHROMIUM=/path/to/chrome to run them)"
  fi
fi

# 2. npm dependencies (again only when the lock file changed). The package's install hook
#    (scripts/install.mjs) does nothing in a checkout: step 3 builds the addon, once.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# 3. generated op glue must match the op table; then the addon and the TypeScript build
node scripts/gen-ops.mjs --check
bash scripts/build-native.sh
if [ -z "$(find src test bench -name '*.ts' -newer dist/.built 2>/dev/null | head -1)" ] && [ -f dist/.built ] && [ tsconfig.json -ot dist/.built ]; then
  :
else
  log "tsc"
  npx tsc -p tsconfig.json
  touch dist/.built
fi
