#!/usr/bin/env bash
# Fuzz every target of fuzz/ for a short while (CI), or one target for
# longer: scripts/fuzz.sh [TARGET] (seconds per target: LINKSHIM_FUZZ_SECS,
# default 20). Installs cargo-fuzz when it is missing. cargo-fuzz needs
# nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# A crash leaves its input in fuzz/artifacts/TARGET/ and fails the run:
# make it a regression test in the normal suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d "${HOME:-/root}/.cargo/bin" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH"
secs=${LINKSHIM_FUZZ_SECS:-20}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
for t in "${targets[@]}"; do cargo fuzz build -O "$t"; done
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "fuzz: $t for ${secs}s"
    # Seeds are read, never written: new inputs go to fuzz/corpus.
    cargo fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1
done
