#!/bin/bash
# Benchmark: CPU instructions per request, plain httpd against httpd with mod_wsguard (shipped
# rules), counted by callgrind (repeatable on a busy 2-core machine, where wrk's requests/s move by
# +-10% from run to run). Each server runs single-process (-X) under valgrind and serves the same
# N requests; the figure is the inclusive cost of ap_run_process_connection per connection (one
# request per connection, KeepAlive Off), i.e. everything httpd does for a request. The same
# target N times (a site's page) and N new targets (each one's first request); a banned client;
# the clean requests again with about 1M records in the store.
# Usage: tests/bench/bench-cost.sh [N]      (needs valgrind; build first)
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
n=${1:-300}
build=${WSG_BUILD:-$top/build}
command -v valgrind >/dev/null || { echo "bench: valgrind is missing" >&2; exit 1; }
work_prefix=wsguard-cost
. "$top/tests/bench/bench-lib.sh"
trap 'pkill -f "valgrind.*$work" 2>/dev/null || true; sleep 1; [ -n "${WSG_KEEP:-}" ] || rm -rf "$work"' EXIT

PREFORK="LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
KeepAlive Off"

# SCENARIO-NAME CONF PORT PATH -> instructions per request
measure() {
    local out="$work/cg/$1"
    # Run as www-data (User is then moot), so that callgrind, whose files are opened as the user
    # the process started as, can write them at exit. One file per process (%p): the crawler
    # check's verifier, forked by httpd, is under valgrind too and collects nothing inside
    # ap_run_process_connection.
    install -d -o www-data -m 0755 "$work/cg"
    runuser -u www-data -- valgrind --tool=callgrind --vgdb=no --callgrind-out-file="$out.%p" \
        --toggle-collect=ap_run_process_connection /usr/sbin/apache2 -X -f "$work/$2.conf" \
        >"$work/logs/$1.valgrind" 2>&1 &
    local vg=$!
    for _ in $(seq 300); do
        curl -s -o /dev/null "http://127.0.0.1:$3/" && break
        sleep 0.1
    done
    # Warm-up request included in the count below; then N measured ones ("{}" in the path:
    # the request's number, so that every target is new).
    if [ "${5:-}" = keepalive ]; then
        # All N on one connection (curl reuses it for the URLs of one invocation).
        local args=() i
        for i in $(seq "$n"); do args+=(-o /dev/null "http://127.0.0.1:$3${4//\{\}/$i}"); done
        curl -s --max-time 60 "${args[@]}"
    else
        for i in $(seq "$n"); do curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$3${4//\{\}/$i}"; done
    fi
    pkill -TERM -f "valgrind\.bin .*callgrind-out-file=$out\." 2>/dev/null || true
    wait "$vg" 2>/dev/null || true
    # Wait for the server to be gone (callgrind dumps at exit and httpd gives its verifier up to
    # 3 s to end): a second server on the same config would otherwise find the pid file's
    # process alive and refuse to start ("already running").
    for _ in $(seq 300); do pgrep -f "callgrind-out-file=$out\." >/dev/null || break; sleep 0.1; done
    # Events line of the dump: total instructions collected inside ap_run_process_connection.
    local total
    total=$(cat "$out".* | awk '/^summary:/ {t += $2} END {print t + 0}')
    if [ "$total" -eq 0 ]; then
        echo "bench: $1 collected nothing; its server said:" >&2
        grep -v '^==' "$work/logs/$1.valgrind" >&2 || true
        exit 1
    fi
    awk -v t="$total" -v n="$((n + 1))" 'BEGIN { printf "%d\n", t / n }'
}

bench_conf plain 18191 "$PREFORK"
# With an event log: a banned client's refusals are counted into it (aggregated per minute).
bench_conf guard 18192 "$PREFORK
$(guard_directives state)
WSGuardEventLog $work/logs/events.log"

# The same servers with KeepAlive On: N requests on one connection (what a browser or wrk
# sends), where httpd's own cost per request is lower and the module's share higher.
KEEPALIVE="LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
KeepAlive On
MaxKeepAliveRequests 0"
bench_conf plainka 18194 "$KEEPALIVE"
bench_conf guardka 18195 "$KEEPALIVE
$(guard_directives state)
WSGuardEventLog $work/logs/events.log"

ps=$(measure plain_static plain 18191 /index.html)
gs=$(measure guard_static guard 18192 /index.html)
p4=$(measure plain_404 plain 18191 /no/such/page.html)
g4=$(measure guard_404 guard 18192 /no/such/page.html)
# Every target new: what the first request for a URL costs (the per-thread memo of passed
# verdicts, wsg_pcache, does not help it).
psn=$(measure plain_static_new plain 18191 "/index.html?v={}")
gsn=$(measure guard_static_new guard 18192 "/index.html?v={}")
p4n=$(measure plain_404_new plain 18191 "/no/such/page{}.html")
g4n=$(measure guard_404_new guard 18192 "/no/such/page{}.html")
pka=$(measure plain_static_ka plainka 18194 /index.html keepalive)
gka=$(measure guard_static_ka guardka 18195 /index.html keepalive)
p4ka=$(measure plain_404_ka plainka 18194 /no/such/page.html keepalive)
g4ka=$(measure guard_404_ka guardka 18195 /no/such/page.html keepalive)
"$build/wsguardctl" -d "$work/state" ban 127.0.0.1 --for 1h >/dev/null
chown -R www-data:www-data "$work/state"   # what the ban wrote, for the server running as www-data
gb=$(measure guard_banned guard 18192 /index.html)

# The same clean requests with about 1M records in the store (500,000 clients at random IPv4
# addresses outside 127/8, each with its /24, as bench_scale fills them), against the empty store.
make -s B="$build" "$build/bench/bench_scale" >/dev/null
WSG_BENCH_FILL_ONLY=1 "$build/bench/bench_scale" "${WSG_FILL:-500000}" "$work/fill" >"$work/fill.txt"
chown -R www-data:www-data "$work/fill"
records=$("$build/wsguardctl" -d "$work/fill/state" stats 2>/dev/null | awk '/^records/ && !n {print $2; n = 1}')
bench_conf guard1m 18193 "$PREFORK
$(guard_directives fill/state)"
ms=$(measure guard1m_static guard1m 18193 /index.html)
m4=$(measure guard1m_404 guard1m 18193 /no/such/page.html)

printf '\n%-34s %16s %8s\n' "scenario ($n requests)" "instructions/req" ratio
printf '%-34s %16s %8s\n' "plain httpd, static 4 KB" "$ps" 1.000
printf '%-34s %16s %8s\n' "mod_wsguard, static 4 KB" "$gs" "$(ratio "$gs" "$ps")"
printf '%-34s %16s %8s\n' "plain httpd, 404" "$p4" 1.000
printf '%-34s %16s %8s\n' "mod_wsguard, 404" "$g4" "$(ratio "$g4" "$p4")"
printf '%-34s %16s %8s\n' "mod_wsguard, banned client (403)" "$gb" "$(ratio "$gb" "$p4")"
printf '%-34s %16s %8s\n' "plain httpd, static, new targets" "$psn" 1.000
printf '%-34s %16s %8s\n' "mod_wsguard, static, new targets" "$gsn" "$(ratio "$gsn" "$psn")"
printf '%-34s %16s %8s\n' "plain httpd, 404, new targets" "$p4n" 1.000
printf '%-34s %16s %8s\n' "mod_wsguard, 404, new targets" "$g4n" "$(ratio "$g4n" "$p4n")"
printf '%-34s %16s %8s\n' "plain httpd, static, keep-alive" "$pka" 1.000
printf '%-34s %16s %8s\n' "mod_wsguard, static, keep-alive" "$gka" "$(ratio "$gka" "$pka")"
printf '%-34s %16s %8s\n' "plain httpd, 404, keep-alive" "$p4ka" 1.000
printf '%-34s %16s %8s\n' "mod_wsguard, 404, keep-alive" "$g4ka" "$(ratio "$g4ka" "$p4ka")"
printf '%-34s %16s %8s\n' "1M store (${records:-?} records), static" "$ms" "$(ratio "$ms" "$gs")"
printf '%-34s %16s %8s\n' "1M store (${records:-?} records), 404" "$m4" "$(ratio "$m4" "$g4")"
echo "(inclusive cost of ap_run_process_connection per request, from callgrind; ratios against plain httpd,"
echo " the 1M-store rows against the empty store)"
sed -n 's/^/  fill: /p' "$work/fill.txt"
