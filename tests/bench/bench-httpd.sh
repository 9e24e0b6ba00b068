#!/bin/bash
# Benchmark: plain httpd against httpd with mod_wsguard (shipped rules), in one run, with wrk on
# 127.0.0.1. Scenarios: clean static requests, clean 404s, and a flood from a banned address
# (compared with plain httpd serving a 404). Prints requests/s, p99 latency and ratios.
# Usage: tests/bench/bench-httpd.sh [SECONDS-PER-RUN] [ROUNDS]     (needs wrk; build first)
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
secs=${1:-8}
rounds=${2:-2}
build=${WSG_BUILD:-$top/build}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
work_prefix=wsguard-bench
. "$top/tests/bench/bench-lib.sh"
trap 'for c in plain guard guard2; do /usr/sbin/apache2 -f "$work/$c.conf" -k stop 2>/dev/null || true; done; sleep 1; rm -rf "$work"' EXIT

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
sleep 1

# wrk -> "RPS P99_MS"
run() {
    $cli_cpu wrk -t"$cli_threads" -c32 -d"${secs}s" --latency "$1" 2>/dev/null | awk '
        /Requests\/sec/ {rps=$2}
        /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p99=v}
        END {printf "%s %s\n", rps, p99}'
}

# Scenarios alternate within each round (plain, guarded, plain, ...) so that drift in the machine's
# speed hits both alike; each figure is the median over the rounds.
declare -A RPS P99 ALL_RPS ALL_P99
scenario() {  # KEY URL
    local rps p99
    read -r rps p99 <<<"$(run "$2")"
    ALL_RPS[$1]="${ALL_RPS[$1]:-} ${rps%.*}"
    ALL_P99[$1]="${ALL_P99[$1]:-} $p99"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

"$build/wsguardctl" -d "$work/state" ban 127.0.0.1 --for 1h >/dev/null   # for the banned flood
# Plain and guarded side by side; odd rounds run plain httpd first, even rounds the guarded one,
# so neither always follows the banned flood.
pair() {  # KIND PATH (round number in r)
    if [ $((r % 2)) = 1 ]; then
        scenario "plain_$1" "http://127.0.0.1:18181$2"
        scenario "guard_$1" "http://127.0.0.1:18183$2"
    else
        scenario "guard_$1" "http://127.0.0.1:18183$2"
        scenario "plain_$1" "http://127.0.0.1:18181$2"
    fi
}
for r in $(seq "$rounds"); do
    pair static /index.html
    pair 404 /no/such/page.html
    scenario guard_banned http://127.0.0.1:18182/index.html
done
for k in "${!ALL_RPS[@]}"; do
    RPS[$k]=$(echo "${ALL_RPS[$k]}" | median)
    P99[$k]=$(echo "${ALL_P99[$k]}" | median)
done

printf '\n%-34s %12s %10s %8s\n' scenario "requests/s" "p99 ms" ratio
printf '%-34s %12s %10s %8s\n' "plain httpd, static 4 KB" "${RPS[plain_static]}" "${P99[plain_static]}" 1.000
printf '%-34s %12s %10s %8s\n' "mod_wsguard, static 4 KB" "${RPS[guard_static]}" "${P99[guard_static]}" "$(ratio "${RPS[guard_static]}" "${RPS[plain_static]}")"
printf '%-34s %12s %10s %8s\n' "plain httpd, 404" "${RPS[plain_404]}" "${P99[plain_404]}" 1.000
printf '%-34s %12s %10s %8s\n' "mod_wsguard, 404" "${RPS[guard_404]}" "${P99[guard_404]}" "$(ratio "${RPS[guard_404]}" "${RPS[plain_404]}")"
printf '%-34s %12s %10s %8s\n' "mod_wsguard, banned client (403)" "${RPS[guard_banned]}" "${P99[guard_banned]}" "$(ratio "${RPS[guard_banned]}" "${RPS[plain_404]}")"
echo "(ratios: against plain httpd in this run; the banned flood is compared with plain httpd's 404)"
# The same ratios taken round by round (each guarded figure against the plain one of its own
# round, run next to it), then their median: drift between rounds cancels out.
paired() {  # GUARD-KEY PLAIN-KEY
    paste <(echo "${ALL_RPS[$1]}" | tr ' ' '\n' | grep -v '^$') \
          <(echo "${ALL_RPS[$2]}" | tr ' ' '\n' | grep -v '^$') |
        awk '$2 > 0 {printf "%.4f\n", $1 / $2}' | median
}
printf 'paired ratios (median over rounds): static %.3f, 404 %.3f, banned flood %.3f\n' \
    "$(paired guard_static plain_static)" "$(paired guard_404 plain_404)" \
    "$(paired guard_banned plain_404)"
echo "(each figure is the median of $rounds rounds of ${secs} s; every round's requests/s:)"
for k in plain_static guard_static plain_404 guard_404 guard_banned; do
    printf '  %-14s%s\n' "$k" "${ALL_RPS[$k]}"
done
