#!/bin/sh
# Build linkshim (scripts/build-release.sh) and install it system-wide:
#   /usr/bin/linkshim, /usr/bin/linkshim-runtime (the wrapper),
#   the podman hooks.d file, the config file, the tmpfiles.d entry and
#   linkshim-gc.service and .timer (clear this host's stale records at boot
#   and every few minutes), linkshim-watch.service (refresh across hosts).
set -eu
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr}
bin=${LINKSHIM_BIN:-$(scripts/build-release.sh)}
install -D -m 0755 "$bin" "$DESTDIR$prefix/bin/linkshim"
ln -sf linkshim "$DESTDIR$prefix/bin/linkshim-runtime"
install -D -m 0644 hooks/linkshim.json "$DESTDIR$prefix/share/containers/oci/hooks.d/linkshim.json"
[ -e "$DESTDIR/etc/linkshim/linkshim.toml" ] || install -D -m 0644 packaging/linkshim.toml "$DESTDIR/etc/linkshim/linkshim.toml"
install -D -m 0644 packaging/tmpfiles.d-linkshim.conf "$DESTDIR$prefix/lib/tmpfiles.d/linkshim.conf"
install -D -m 0644 packaging/linkshim-gc.service "$DESTDIR$prefix/lib/systemd/system/linkshim-gc.service"
install -D -m 0644 packaging/linkshim-gc.timer "$DESTDIR$prefix/lib/systemd/system/linkshim-gc.timer"
install -D -m 0644 packaging/linkshim-watch.service "$DESTDIR$prefix/lib/systemd/system/linkshim-watch.service"
