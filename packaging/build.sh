#!/bin/sh
# Build linkshim's packages from this checkout:
#   packaging/build.sh deb   target/debian/linkshim_<version>-1_<arch>.deb  (cargo-deb)
#   packaging/build.sh rpm   target/rpm/RPMS/<arch>/linkshim-<version>-1.<arch>.rpm  (rpmbuild)
# and print the package's path. Both take the binary
# scripts/build-release.sh builds (static-pie on glibc Linux), and the man
# pages and shell completions `cargo run -p xtask -- assets` makes from the
# command line. Needs cargo-deb (`cargo install cargo-deb`) or rpmbuild
# (Debian: `apt-get install rpm`; Fedora: `dnf install rpm-build`).
set -eu
cd "$(dirname "$0")/.."
[ -d "${HOME:-/root}/.cargo/bin" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH"
case ${1:-} in
deb)
    bin=$(scripts/build-release.sh)
    cargo run --locked --quiet -p xtask -- assets target/assets >/dev/null
    host=$(rustc -vV | sed -n 's/^host: //p')
    # cargo-deb reads the binary from target/<host>/release with --target.
    case $bin in
    */target/"$host"/release/*) cargo deb --no-build --locked --quiet --target "$host" ;;
    *) cargo deb --no-build --locked --quiet ;;
    esac
    ;;
rpm)
    top=$PWD/target/rpm
    rm -rf "$top"
    mkdir -p "$top"
    # Built in place: the spec's %build runs cargo here (a no-op when
    # the release binary is up to date).
    # On a host whose packages rpm does not manage (Debian), the build
    # requirements cannot be checked by rpm: cargo and gcc are on PATH.
    nodeps=
    rpm -q --quiet rpm 2>/dev/null || nodeps=--nodeps
    rpmbuild -bb --build-in-place --quiet $nodeps --define "_topdir $top" packaging/rpm/linkshim.spec >&2
    find "$top/RPMS" -name 'linkshim-*.rpm'
    ;;
*)
    echo "usage: packaging/build.sh deb|rpm" >&2
    exit 2
    ;;
esac
