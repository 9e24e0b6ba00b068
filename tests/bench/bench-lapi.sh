#!/bin/bash
# bench-lapi: time to push and pull N (default 10,000) bans through a real CrowdSec LAPI
# (Debian's crowdsec, started here on 127.0.0.1 with a config of its own, stopped by pid on exit),
# with the core client and sync (build/tests/lapi_driver):
#   push  N bans straight through wsg_lapi_push, in POSTs of 500
#   pull  the stream with startup=true (2N decisions by then), and an idle delta poll
#   sync  N bans queued in an outbox and pushed by sync steps; a fresh server's first sync step
#         (startup=true pull + apply of every decision into its LMDB store)
#   tests/bench/bench-lapi.sh [-n N] [-b BUILD_DIR]
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=10000
BUILD=${WSG_BUILD:-$REPO/build}
while getopts "n:b:" o; do
    case $o in
        n) N=$OPTARG ;;
        b) BUILD=$OPTARG ;;
        *) echo "usage: $0 [-n N] [-b BUILD_DIR]" >&2; exit 2 ;;
    esac
done
[[ "$BUILD" = /* ]] || BUILD=$REPO/$BUILD
DRV=$BUILD/tests/lapi_driver
[ -x "$DRV" ] || { echo "$DRV is missing: run make (or pass -b BUILD_DIR)" >&2; exit 1; }
command -v crowdsec >/dev/null || { echo "crowdsec is not installed: sh scripts/deps.sh" >&2; exit 1; }

WORK=$(mktemp -d /tmp/wsg-bench-lapi.XXXXXX)
LAPI_PID=""
LAPI_ROOT=""
cleanup() {
    [ -n "$LAPI_PID" ] && kill "$LAPI_PID" 2>/dev/null && while kill -0 "$LAPI_PID" 2>/dev/null; do sleep 0.1; done
    [ -n "$LAPI_ROOT" ] && rm -rf "$LAPI_ROOT"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Start the LAPI and make the identities with the test suite's helper; it prints shell assignments.
eval "$(cd "$REPO/tests/integration" && WSG_TMP=$WORK /usr/bin/python3 - <<'PY'
import shlex
from lapi import CrowdSecLAPI
l = CrowdSecLAPI()
l.start()
pw = l.add_machine("bench-web01")
print("LAPI_PID=%d LAPI_ROOT=%s LAPI_URL=%s" % (l.proc.pid, shlex.quote(l.root), l.url))
print("PUSH_PW=%s" % shlex.quote(pw))
for name in ("reader", "b"):
    print("KEY_%s=%s" % (name.upper(), shlex.quote(l.add_bouncer("bench-" + name))))
PY
)"
export WSG_LAPI_URL=$LAPI_URL WSG_LAPI_TIMEOUT_MS=120000
push_env=(env WSG_LAPI_MACHINE=bench-web01 WSG_LAPI_PASSWORD="$PUSH_PW")
field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
sec() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }

echo "bench-lapi: crowdsec $(crowdsec -version 2>&1 | sed -n 's/.*version: *//p' | head -1), $N bans, LAPI $LAPI_URL (SQLite, WAL)"

out=$("${push_env[@]}" "$DRV" pushn "$N" 3600 500)
printf '%-58s %s (%s POSTs)\n' "push $N bans (wsg_lapi_push, 500 per POST)" "$(sec "$(echo "$out" | field ms)")" "$(echo "$out" | field posts)"

out=$(WSG_LAPI_BOUNCER_KEY=$KEY_READER WSG_LAPI_COUNT_ONLY=1 "$DRV" pull startup)
printf '%-58s %s (%s decisions)\n' "pull startup=true" "$(sec "$(echo "$out" | field ms)")" "$(echo "$out" | field new)"
out=$(WSG_LAPI_BOUNCER_KEY=$KEY_READER WSG_LAPI_COUNT_ONLY=1 "$DRV" pull)
printf '%-58s %s\n' "pull delta, nothing new" "$(sec "$(echo "$out" | field ms)")"

out=$("$DRV" enqueuen "$WORK/a" "$N" 3600)
printf '%-58s %s\n' "queue $N bans in the outbox (LMDB)" "$(sec "$(echo "$out" | field ms)")"
out=$("${push_env[@]}" WSG_SYNC_STEPS=10 WSG_SYNC_UNTIL_EMPTY=1 "$DRV" sync "$WORK/a")
printf '%-58s %s (pushed %s, backlog %s)\n' "sync: push the outbox (steps of up to 40 x 500)" "$(sec "$(echo "$out" | field ms)")" \
    "$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(sum(s["pushed"] for s in json.load(sys.stdin)["steps"]))')" \
    "$(echo "$out" | field backlog)"

out=$(WSG_LAPI_BOUNCER_KEY=$KEY_B "$DRV" sync "$WORK/b")
printf '%-58s %s (pull %s, apply %s: %s added)\n' "sync: a fresh server's first step (pull + apply to LMDB)" "$(sec "$(echo "$out" | field ms)")" \
    "$(sec "$(echo "$out" | field pull_ms)")" "$(sec "$(echo "$out" | field apply_ms)")" "$(echo "$out" | field added)"
out=$(WSG_LAPI_BOUNCER_KEY=$KEY_B "$DRV" sync "$WORK/b")
printf '%-58s %s (pull %s, apply %s: %s unchanged)\n' "sync: the same again (idempotent resync)" "$(sec "$(echo "$out" | field ms)")" \
    "$(sec "$(echo "$out" | field pull_ms)")" "$(sec "$(echo "$out" | field apply_ms)")" "$(echo "$out" | field unchanged)"
echo "LAPI RSS: $(ps -o rss= -p "$LAPI_PID" | awk '{ printf "%.0f MB", $1 / 1024 }')"
