#!/usr/bin/env bash
# The whole test suite: unit tables, the binary on fixtures with a fake
# runtime, and end-to-end runs on real runc, crun, podman and containerd.
# As root on Debian; an end-to-end case that cannot run here (not root, a
# runtime missing) is reported as ignored with the reason, unless
# LINKSHIM_E2E=required (CI), where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup installs cargo under ~/.cargo/bin, which a non-login shell may lack.
[ -d "${HOME:-/root}/.cargo/bin" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH"
if [ "$(id -u)" = 0 ]; then
    scripts/setup.sh
fi
cargo build --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --lib --bins --tests --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite, summed over every test binary's
# `test result: ok. P passed; F failed; I ignored; ...`; then the ignored
# cases with their reasons.
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "suite: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
grep -h '^test .* \.\.\. ignored' "$log" || true
exit "$status"
