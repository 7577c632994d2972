#!/bin/sh
# Write scripts/hot-symbols.txt: every function the shipped binary runs on
# a container's create, start and stop (a precreate with three links, the
# wrapper's create, a poststart, a poststop, a pass-through `start`), as
# the linker names them.
# scripts/build-release.sh has the linker lay these out side by side
# (lld's --symbol-ordering-file), so a hook process faults in a few pages
# of code instead of pages from all over its 5 MB of text: about 25 page
# faults and 5 % of a precreate (docs/benchmarks/latest.md).
#
# The names of Rust functions carry a hash of their crate's build settings
# and the toolchain: after a toolchain, dependency or feature change, run
# this again (names the binary no longer has are ignored by the linker, so
# a stale list only costs speed). Needs valgrind; as any user.
#
#   scripts/hot-symbols.sh
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "hot-symbols: valgrind is needed" >&2; exit 1; }
bin=$(scripts/build-release.sh)
work=$(mktemp -d)
sleeper=""
cleanup() {
    [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
state=$work/state
spec=tests/fixtures/runc-1.1-spec.json
sleep 600 &
sleeper=$!

# A bundle whose config.json is the runc fixture with these annotations.
bundle() { # DIR ANNOTATIONS-JSON
    mkdir -p "$1"
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["annotations"]=json.loads(sys.argv[2]); json.dump(c,open(sys.argv[3],"w"))' \
        "$spec" "$2" "$1/config.json"
}
# The OCI state of container ID (the sleeper's pid) in bundle DIR.
oci_state() { # ID DIR
    printf '{"ociVersion":"1.0.2","id":"%s","status":"running","pid":%s,"bundle":"%s"}' "$1" "$sleeper" "$2"
}
n=0
profile() { # STDIN-FILE ARGS...
    n=$((n + 1))
    input=$1
    shift
    env -i PATH=/usr/bin:/bin LINKSHIM_CONFIG=/nonexistent \
        valgrind --tool=callgrind --demangle=no --trace-children=no \
        --callgrind-out-file="$work/cg.$n" "$bin" --state-dir "$state" "$@" \
        <"$input" >/dev/null 2>"$work/valgrind.$n" || {
        echo "hot-symbols: linkshim $* failed:" >&2
        grep -v '^==' "$work/valgrind.$n" >&2
        exit 1
    }
}

for t in db cache api; do
    bundle "$work/$t" "{\"io.linkshim.name\":\"$t\",\"io.linkshim.expose\":\"80/tcp\"}"
    oci_state "ctr-$t" "$work/$t" >"$work/$t.state"
    profile "$work/$t.state" hook poststart
done
bundle "$work/web" '{"io.linkshim.name":"web","io.linkshim.links":"db cache:c api"}'
profile "$work/web/config.json" hook precreate
# The wrapper's create, up to the exec of the runtime (true).
bundle "$work/web2" '{"io.linkshim.name":"web2","io.linkshim.links":"db cache:c api"}'
profile /dev/null runtime --runtime /bin/true create --bundle "$work/web2" ctr-web2
token=$(sed -n 's/.*"io.linkshim.internal.token":"\([0-9a-f]*\)".*/\1/p' "$work/web2/config.json")
[ -n "$token" ] || { echo "hot-symbols: the wrapper's create left no token" >&2; exit 1; }
oci_state ctr-web2 "$work/web2" >"$work/web2.state"
profile "$work/web2.state" hook poststart
profile "$work/web2.state" hook poststop --token "$token"
# What an engine's start and delete pass through the wrapper.
profile /dev/null runtime --runtime /bin/true start ctr-web2

# Each function once (by name within a run, so the list changes only
# where the code does): a precreate's first (it is the one whose every
# microsecond counts against the container start), then what the wrapper's
# create adds, then the start and stop hooks', then a pass-through's.
for f in "$work/cg.4" "$work/cg.5" "$work/cg.1" "$work/cg.2" "$work/cg.3" "$work/cg.6" "$work/cg.7" "$work/cg.8"; do
    sed -n 's/^c\{0,1\}fn=([0-9]*) //p' "$f" | sed "s/'[0-9]*\$//" | LC_ALL=C sort -u
done | grep -v -e '^0x' -e '^(below main)' | awk '!seen[$0]++' >"$work/hot.txt"
# Far fewer than a precreate runs means a run went wrong: keep the old list.
count=$(wc -l <"$work/hot.txt")
[ "$count" -ge 500 ] || { echo "hot-symbols: only $count functions; list not written" >&2; exit 1; }
mv "$work/hot.txt" scripts/hot-symbols.txt
echo "scripts/hot-symbols.txt: $count functions from $n runs"
