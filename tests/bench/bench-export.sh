#!/bin/bash
# bench-export: export and firewall sync of N (default 100,000) banned addresses, in seconds.
# Fills a fresh store through 'wsguardctl import' of a generated list (random public IPv4
# addresses plus 1% IPv6), then times each export format, and wsguard-fwsync (nft and ipset) into
# a network namespace of its own (deleted on exit). Needs root for the namespace.
#   tests/bench/bench-export.sh [-n N] [-b BUILD_DIR]
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=100000
BUILD=${WSG_BUILD:-$REPO/build}
while getopts "n:b:" o; do
    case $o in
        n) N=$OPTARG ;;
        b) BUILD=$OPTARG ;;
        *) echo "usage: $0 [-n N] [-b BUILD_DIR]" >&2; exit 2 ;;
    esac
done
[[ "$BUILD" = /* ]] || BUILD=$REPO/$BUILD
CTL=$BUILD/wsguardctl
SYNC=$BUILD/wsguard-fwsync    # made by make from scripts/
[ -x "$CTL" ] || { echo "$CTL is missing: run make (or pass -b BUILD_DIR)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/wsg-bench-export.XXXXXX)
NS=wsgbench-$$
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/state"

secs() {   # secs LABEL CMD...: runs CMD, prints LABEL and the wall time
    local label=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    printf '%-48s %8.2f s\n' "$label" "$(echo "$t1 - $t0" | bc)"
}

/usr/bin/python3 - "$N" > "$WORK/bans.txt" <<'EOF'
import random, sys
n = int(sys.argv[1])
rnd = random.Random(1)
v6 = n // 100
seen = set()
while len(seen) < n - v6:
    seen.add(rnd.randrange(0x2D000000, 0x2E000000))          # 45.0.0.0/8
for a in seen:
    print("%d.%d.%d.%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255))
for i in range(v6):
    print("2a05:d000:%x:%x::1" % (i >> 16, i & 0xffff))
EOF

echo "wsguardctl: $CTL"
echo "entries:    $N ($((N / 100)) IPv6)"
fill() { "$CTL" -d "$WORK/state" import "$WORK/bans.txt" --for 2h --source bench >/dev/null; }
secs "fill: wsguardctl import ($N bans)" fill
for f in nft ipset iptables pf plain json; do
    secs "export --format $f" "$CTL" -d "$WORK/state" export --format "$f" -o "$WORK/out.$f"
done
secs "export --format nft --aggregate" \
    "$CTL" -d "$WORK/state" export --format nft --aggregate -o "$WORK/out.agg.nft"
echo "sizes: nft $(stat -c %s "$WORK/out.nft") B, ipset $(stat -c %s "$WORK/out.ipset") B, json $(stat -c %s "$WORK/out.json") B"

if [ "$(id -u)" != 0 ]; then
    echo "not root: sync into a network namespace skipped"
    exit 0
fi
ip netns add "$NS"
for b in nft ipset; do
    secs "wsguard-fwsync --backend $b (first run)" ip netns exec "$NS" "$SYNC" --backend "$b" \
        --state-dir "$WORK/state" --wsguardctl "$CTL" --lock "$WORK/lock" --quiet
    secs "wsguard-fwsync --backend $b (again, replace)" ip netns exec "$NS" "$SYNC" --backend "$b" \
        --state-dir "$WORK/state" --wsguardctl "$CTL" --lock "$WORK/lock" --quiet
done
echo "kernel: nft blocked4 $(ip netns exec "$NS" nft -j list set inet wsguard blocked4 | grep -o '"val"' | wc -l) elements," \
     "ipset wsguard4 $(ip netns exec "$NS" ipset list wsguard4 | sed -n 's/^Number of entries: //p') entries"
