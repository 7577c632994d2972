#!/usr/bin/env bash
# Install what linkshim's tests and demo need on a Debian machine (as root)
# and prepare the machine: idempotent, quick when everything is there.
set -euo pipefail

missing=()
for p in runc crun podman containerd busybox-static iproute2 jq uidmap slirp4netns python3-venv man-db rpm etcd-server etcd-client iptables; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi

# crun refuses cgroup v2 controllers on this hybrid layout: move hugetlb to v1.
if [ -s /sys/fs/cgroup/unified/cgroup.controllers ]; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mountpoint -q /sys/fs/cgroup/hugetlb || mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi

# ctr looks for CNI plugins in /opt/cni/bin; Debian ships them in /usr/lib/cni.
if [ -d /usr/lib/cni ] && [ ! -e /opt/cni/bin ]; then
    mkdir -p /opt/cni
    ln -s /usr/lib/cni /opt/cni/bin
fi

# podman-compose (from PyPI, in a venv of its own) for the compose
# end-to-end test, on PATH as /usr/local/bin/podman-compose.
venv=/opt/linkshim-test/podman-compose
if [ ! -x "$venv/bin/podman-compose" ]; then
    echo "setup: installing podman-compose in $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'podman-compose==1.6.0'
fi
ln -sf "$venv/bin/podman-compose" /usr/local/bin/podman-compose

# The Debian package is built with cargo-deb (the package test builds it).
[ -d "${HOME:-/root}/.cargo/bin" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH"
if ! command -v cargo-deb >/dev/null 2>&1 && command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo install cargo-deb"
    cargo install --quiet --locked --version 3.8.0 cargo-deb
fi
