#!/bin/sh
# Build the linkshim binary that is shipped and benchmarked, and print its
# path. On glibc Linux it is a static-pie executable (`crt-static`): no
# dynamic loader runs at each of the hook and wrapper processes linkshim
# adds to a container start (about an eighth of a precreate, see
# docs/benchmarks/latest.md). Name lookups in it use glibc's built-in
# `files` and `dns` sources; `resource add` asks `getent` for the rest.
# Its hot functions are laid out together (scripts/hot-symbols.sh).
# Elsewhere it is cargo's plain release build.
#
#   scripts/build-release.sh            build, print the path
#   LINKSHIM_DYNAMIC=1 scripts/build-release.sh   the dynamic build instead
set -eu
cd "$(dirname "$0")/.."
[ -d "${HOME:-/root}/.cargo/bin" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH"
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host:${LINKSHIM_DYNAMIC:-}" in
*-linux-gnu*:)
    # With --target, RUSTFLAGS reach only what runs on the target: the
    # build scripts and proc macros stay dynamic, as they must. The
    # getrandom crate finds glibc's getrandom() by dlsym, which a static
    # binary has not: it would open and poll /dev/random, then read
    # /dev/urandom, for each token. The system call itself (Linux 3.17)
    # is named instead.
    #
    # The functions a hook runs are laid out side by side
    # (scripts/hot-symbols.txt, written by scripts/hot-symbols.sh), when the
    # linker is lld (Rust's default on x86_64 Linux since 1.90): a hook
    # process then faults in a few pages of code, not pages from all over.
    # (Not from a directory whose path has a space: RUSTFLAGS is split on
    # whitespace.) The probe links with the flags the build will have.
    order=""
    case "$PWD" in
    *[[:space:]]*) ;;
    *)
        flags="-C link-arg=-Wl,--symbol-ordering-file=$PWD/scripts/hot-symbols.txt -C link-arg=-Wl,--no-warn-symbol-ordering"
        probe=$(mktemp -d)
        # shellcheck disable=SC2086 # flags are words, as cargo splits them
        if echo 'fn main() {}' | rustc ${RUSTFLAGS:-} $flags --target "$host" \
            -C target-feature=+crt-static -o "$probe/probe" - >/dev/null 2>&1; then
            order=$flags
        fi
        rm -rf "$probe"
        ;;
    esac
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\" $order" \
        cargo build --release --locked --quiet --target "$host" --bin linkshim
    echo "$PWD/target/$host/release/linkshim"
    ;;
*)
    cargo build --release --locked --quiet --bin linkshim
    echo "$PWD/target/release/linkshim"
    ;;
esac
