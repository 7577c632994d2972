#!/usr/bin/env bash
# The main job, end to end on real podman: a "mysql_server" container and a
# "webapp" container linked to it as "db". Prints what the linker sees: its
# link variables, its /etc/hosts, and a fetch from the target by its alias;
# then a larger topology drawn by `linkshim graph`, before and after its
# target stops.
# As root on Debian; installs what is missing. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d "${HOME:-/root}/.cargo/bin" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH"
scripts/setup.sh
cargo build --release --quiet
bin=$PWD/target/release/linkshim

work=$(mktemp -d /tmp/linkshim-demo.XXXXXX)
podman_=(podman --root "$work/root" --runroot "$work/run" --hooks-dir "$work/hooks.d"
         --cgroup-manager cgroupfs --events-backend file)
cleanup() {
    "${podman_[@]}" rm -af -t 0 >/dev/null 2>&1 || true
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A busybox root filesystem; the "mysql_server" serves /www over HTTP.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,etc,tmp,www}
cp /bin/busybox "$rootfs/bin/"
for a in sh env sort grep cat httpd wget sleep; do ln -s busybox "$rootfs/bin/$a"; done
echo "hosts: files dns" > "$rootfs/etc/nsswitch.conf"
touch "$rootfs/etc/hosts"
echo "hello from mysql_server" > "$rootfs/www/index.html"

# podman runs linkshim as its precreate hook: the hooks.d file of the
# package, pointed at this build and a private state directory.
mkdir -p "$work/hooks.d"
jq --arg bin "$bin" --arg state "$work/state" \
   '.hook.path = $bin | .hook.args += ["--state-dir", $state]' \
   hooks/linkshim.json > "$work/hooks.d/linkshim.json"
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]\n' > "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf

echo "== podman run -d mysql_server (exposes 3306, 33060/udp, 7000-7002)"
"${podman_[@]}" run -d --name mysql_server \
    --annotation io.linkshim.name=mysql_server \
    --annotation 'io.linkshim.expose=3306 33060/udp 7000-7002' \
    -e MYSQL_ROOT_PASSWORD=secret \
    --rootfs "$rootfs" httpd -f -p 3306 -h /www

echo "== linkshim ls"
"$bin" --state-dir "$work/state" ls

echo "== linkshim doctor: the links of webapp, checked before it starts"
"$bin" --state-dir "$work/state" doctor --name webapp --links mysql_server:db

echo "== podman run webapp --link mysql_server:db"
"${podman_[@]}" run --rm --name webapp \
    --annotation io.linkshim.name=webapp \
    --annotation io.linkshim.links=mysql_server:db \
    --rootfs "$rootfs" sh -c '
        echo "-- env (DB_*)"; env | grep ^DB_ | sort
        echo "-- /etc/hosts"; cat /etc/hosts
        echo "-- wget http://db:3306/"; wget -q -O - http://db:3306/'

echo "== a link to a container that is not running fails the start"
if "${podman_[@]}" run --rm --annotation io.linkshim.name=broken \
       --annotation io.linkshim.links=nosuch --rootfs "$rootfs" true 2>/dev/null; then
    echo "unexpected: the container started" >&2; exit 1
fi
tail -n 1 "$work/state/linkshim.log"

echo "== linkshim graph: a service of two replicas linked to mysql_server, a proxy"
echo "   linked to the service, to a URL target and to a resource"
ls_=("$bin" --state-dir "$work/state" --persist-dir "$work/persist")
"${ls_[@]}" resource add pg --url 'postgres://app:secret@192.0.2.10:5432/appdb'
for i in 1 2; do
    "${podman_[@]}" run -d --name "web$i" --annotation io.linkshim.service=web \
        --annotation io.linkshim.expose=80 --annotation io.linkshim.links=mysql_server:db \
        --rootfs "$rootfs" httpd -f -p 80 -h /www >/dev/null
done
"${podman_[@]}" run -d --name cache --annotation io.linkshim.name=cache \
    --annotation io.linkshim.expose=6379 --annotation 'io.linkshim.url=redis://:secret@:6379/0' \
    --rootfs "$rootfs" httpd -f -p 6379 -h /www >/dev/null
"${podman_[@]}" run -d --name proxy --annotation io.linkshim.name=proxy \
    --annotation io.linkshim.expose=443 --annotation 'io.linkshim.links=web cache:kv+convox pg' \
    --rootfs "$rootfs" httpd -f -p 443 -h /www >/dev/null
"${ls_[@]}" graph
echo "== linkshim inspect proxy"
"${ls_[@]}" inspect proxy

echo "== podman stop mysql_server; linkshim ls; linkshim graph (the replicas' link is broken)"
"${podman_[@]}" stop -t 0 mysql_server >/dev/null
"$bin" --state-dir "$work/state" ls
"${ls_[@]}" graph
# The picture in the README: LINKSHIM_DEMO_SVG=docs/graph.svg scripts/demo.sh
if [ -n "${LINKSHIM_DEMO_SVG:-}" ]; then
    "${ls_[@]}" graph --format svg --layout builtin > "$LINKSHIM_DEMO_SVG"
    echo "== the graph as SVG: $LINKSHIM_DEMO_SVG"
fi
