#!/bin/bash
# Benchmark: plain httpd against httpd with mod_wsguard (shipped rules), in one run, with wrk on
# 127.0.0.1. Scenarios: clean static requests, clean 404s, and a flood from a banned address
# (compared with plain httpd serving a 404). Prints requests/s, p99 latency and ratios. A second,
# identical plain httpd runs in every round too: what it differs from the first by is what this
# run can resolve (two identical servers on this machine differ by up to 2-3% in one run).
# Usage: tests/bench/bench-httpd.sh [SECONDS-PER-RUN] [ROUNDS]     (needs wrk; build first)
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
secs=${1:-4}
rounds=${2:-6}
build=${WSG_BUILD:-$top/build}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
work_prefix=wsguard-bench
. "$top/tests/bench/bench-lib.sh"
trap 'for c in plain plain2 guard guard2; do /usr/sbin/apache2 -f "$work/$c.conf" -k stop 2>/dev/null || true; done; sleep 1; rm -rf "$work"' EXIT

EVENT="LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
StartServers 2
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
KeepAlive On
MaxKeepAliveRequests 0"
start() {  # NAME PORT EXTRA
    bench_conf "$1" "$2" "$EVENT
$3"
    $srv_cpu /usr/sbin/apache2 -f "$work/$1.conf" -k start
}

# With two cores or more, every server runs on core 0 and wrk on core 1: the server's CPU is then
# the bottleneck, and wrk's own work no longer competes with it for the same core (WSG_PIN=0: no
# pinning).
srv_cpu="" cli_cpu="" cli_threads=2
if [ "${WSG_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    srv_cpu="taskset -c 0" cli_cpu="taskset -c 1" cli_threads=1
fi

start plain 18181 ""
start guard 18182 "$(guard_directives state)"
# The banned flood and clean guarded traffic both come from 127.0.0.1 (wrk cannot pick a source
# address), so clean traffic is measured on a second guarded server with its own state.
start guard2 18183 "$(guard_directives state2)"
# The yardstick: a second plain httpd, the same as the first.
start plain2 18184 ""
sleep 1

# wrk URL [SECONDS] -> "RPS P99_MS"
run() {
    $cli_cpu wrk -t"$cli_threads" -c32 -d"${2:-$secs}s" --latency "$1" 2>/dev/null | awk '
        /Requests\/sec/ {rps=$2}
        /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p99=v}
        END {printf "%s %s\n", rps, p99}'
}

# The servers take turns within each round, in an order that changes from round to round (all
# six orders of the three come in turn), so that drift in the machine's speed hits them alike;
# each figure is the median over the rounds.
declare -A RPS P99 ALL_RPS ALL_P99
scenario() {  # KEY URL
    local rps p99
    read -r rps p99 <<<"$(run "$2")"
    ALL_RPS[$1]="${ALL_RPS[$1]:-} ${rps%.*}"
    ALL_P99[$1]="${ALL_P99[$1]:-} $p99"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Two scenarios' requests/s side by side, one round per line.
rounds_of() {  # KEY1 KEY2
    paste <(echo "${ALL_RPS[$1]}" | tr ' ' '\n' | grep -v '^$') \
          <(echo "${ALL_RPS[$2]}" | tr ' ' '\n' | grep -v '^$')
}

"$build/wsguardctl" -d "$work/state" ban 127.0.0.1 --for 1h >/dev/null   # for the banned flood
# The servers of the clean scenarios (guard: the guarded server with its own state, guard2).
declare -A PORT=([plain]=18181 [guard]=18183 [plain2]=18184)
ORDERS=("plain guard plain2" "guard plain2 plain" "plain2 plain guard"
        "plain2 guard plain" "guard plain plain2" "plain plain2 guard")
turns() {  # KIND PATH (round number in r)
    local s
    for s in ${ORDERS[$(((r - 1) % 6))]}; do
        scenario "${s}_$1" "http://127.0.0.1:${PORT[$s]}$2"
    done
}
# Warm-up, not counted: every server's threads, caches and connections once before the rounds
# (the first run against a fresh server is otherwise the slowest of all).
for s in plain guard plain2; do
    run "http://127.0.0.1:${PORT[$s]}/index.html" 1 >/dev/null
    run "http://127.0.0.1:${PORT[$s]}/no/such/page.html" 1 >/dev/null
done
run http://127.0.0.1:18182/index.html 1 >/dev/null
for r in $(seq "$rounds"); do
    turns static /index.html
    turns 404 /no/such/page.html
    scenario guard_banned http://127.0.0.1:18182/index.html
done
# Plain httpd is both plain servers: their runs pooled for the medians, and in each round their
# mean for the paired ratios (twice the samples of the reference; neither server is picked).
for kind in static 404; do
    ALL_RPS[plainx_$kind]="${ALL_RPS[plain_$kind]} ${ALL_RPS[plain2_$kind]}"
    ALL_P99[plainx_$kind]="${ALL_P99[plain_$kind]} ${ALL_P99[plain2_$kind]}"
    ALL_RPS[plainm_$kind]=$(rounds_of "plain_$kind" "plain2_$kind" | awk '{printf " %d", ($1 + $2) / 2}')
done
for k in "${!ALL_RPS[@]}"; do
    RPS[$k]=$(echo "${ALL_RPS[$k]}" | median)
    P99[$k]=$(echo "${ALL_P99[$k]:-0}" | median)
done

row() {  # LABEL KEY REFERENCE-KEY
    printf '%-36s %12s %10s %8s\n' "$1" "${RPS[$2]}" "${P99[$2]}" "$(ratio "${RPS[$2]}" "${RPS[$3]}")"
}
printf '\n%-36s %12s %10s %8s\n' scenario "requests/s" "p99 ms" ratio
row "plain httpd, static 4 KB" plainx_static plainx_static
row "mod_wsguard, static 4 KB" guard_static plainx_static
row "plain httpd, 404" plainx_404 plainx_404
row "mod_wsguard, 404" guard_404 plainx_404
row "mod_wsguard, banned client (403)" guard_banned plainx_404
echo "(ratios: against plain httpd in this run, both of its servers; the banned flood is compared"
echo " with plain httpd's 404)"
# The same ratios taken round by round (each guarded figure against the plain ones of its own
# round, run next to it), then their median: drift between rounds cancels out.
paired() {  # GUARD-KEY PLAIN-KEY
    rounds_of "$1" "$2" | awk '$2 > 0 {printf "%.4f\n", $1 / $2}' | median
}
printf 'paired ratios (median over rounds): static %.3f, 404 %.3f, banned flood %.3f\n' \
    "$(paired guard_static plainm_static)" "$(paired guard_404 plainm_404)" \
    "$(paired guard_banned plainm_404)"
printf 'the second plain httpd against the first, paired (what this run can resolve): static %.3f, 404 %.3f\n' \
    "$(paired plain2_static plain_static)" "$(paired plain2_404 plain_404)"
echo "(each figure is the median of $rounds rounds of ${secs} s; every round's requests/s:)"
for k in plain_static plain2_static guard_static plain_404 plain2_404 guard_404 guard_banned; do
    printf '  %-14s%s\n' "$k" "${ALL_RPS[$k]}"
done
