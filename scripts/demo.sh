#!/bin/bash
# The main job, end to end, on this machine: installs what is needed, builds, starts a real httpd on
# 127.0.0.1 with mod_wsguard and the shipped rules, replays a short real scan (lines of the
# development corpus) from a few scanner addresses alongside a visitor, then shows what was refused,
# the ban list, the firewall export and the sharing report, and stops the server. When CrowdSec is
# installed (scripts/deps.sh installs it), it then shows a fleet: a CrowdSec LAPI of its own and a
# second httpd (prefork, PORT+1), each server a CrowdSec machine and bouncer; a scanner refused by
# the first is refused by the second, an unban on the first lifts it on the second (about 10 s
# more; WSG_DEMO_FLEET=0 skips it).
# Usage: scripts/demo.sh [PORT]     (all traffic stays on 127.0.0.0/8)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
port=${1:-8089}
corpus=${WSG_CORPUS:-$top/tests/corpus}

sh scripts/deps.sh
sh scripts/build.sh >/dev/null
ctl=$top/build/wsguardctl

work=$(mktemp -d /tmp/wsguard-demo.XXXXXX)
mkdir -p "$work/htdocs" "$work/logs" "$work/run"
echo "<h1>hello</h1>" > "$work/htdocs/index.html"
chown -R www-data:www-data "$work"

# The fleet part needs a LAPI before the servers start (their config names it): one of its own,
# on a free loopback port, with the test suite's helper (tests/integration/lapi.py).
fleet=""
LAPI_PID="" LAPI_ROOT=""
stop_all() {
    /usr/sbin/apache2 -f "$work/httpd.conf" -k stop 2>/dev/null || true
    [ -f "$work/b/httpd.conf" ] && { /usr/sbin/apache2 -f "$work/b/httpd.conf" -k stop 2>/dev/null || true; }
    [ -n "$LAPI_PID" ] && kill "$LAPI_PID" 2>/dev/null && while kill -0 "$LAPI_PID" 2>/dev/null; do sleep 0.1; done
    [ -n "$LAPI_ROOT" ] && rm -rf "$LAPI_ROOT"
    return 0
}
trap stop_all EXIT
if [ "${WSG_DEMO_FLEET:-1}" != 0 ] && command -v crowdsec >/dev/null && command -v cscli >/dev/null; then
    eval "$(cd "$top/tests/integration" && WSG_TMP=$work /usr/bin/python3 - "$work" <<'PY'
import os, shlex, sys
from lapi import CrowdSecLAPI
work = sys.argv[1]
l = CrowdSecLAPI()
l.start()
l._ensure_admin()          # cscli's own machine, for 'cscli decisions list' below
print("LAPI_PID=%d LAPI_ROOT=%s LAPI_URL=%s" % (l.proc.pid, shlex.quote(l.root), l.url))
print("LAPI_CONF=%s" % shlex.quote(l.config))
for name in ("a", "b"):
    for kind, secret in (("pw", l.add_machine("demo-" + name)), ("key", l.add_bouncer("demo-%s-bouncer" % name))):
        path = os.path.join(work, "%s-%s" % (name, kind))
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(secret + "\n")
PY
)" && fleet=1
fi
cs_line() {  # a|b: this server's WSGuardCrowdSec line (none without the fleet part)
    [ -n "$fleet" ] && printf 'WSGuardCrowdSec %s machine=demo-%s password-file=%s/%s-pw bouncer-key-file=%s/%s-key interval=1s\n' \
        "$LAPI_URL" "$1" "$work" "$1" "$work" "$1"
    return 0
}

cat > "$work/httpd.conf" <<CONF
ServerRoot "$work"
ServerName demo.localhost
Listen 127.0.0.1:$port
PidFile $work/run/httpd.pid
DefaultRuntimeDir $work/run
ErrorLog $work/logs/error.log
LogLevel warn wsguard:info
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule wsguard_module $top/build/mod_wsguard.so
TypesConfig /etc/mime.types
DocumentRoot $work/htdocs
LogFormat "%a %>s %r" brief
CustomLog $work/logs/access.log brief

WSGuardRules $top/rules
WSGuardStateDir $work/state
WSGuardEventLog $work/logs/events.jsonl
# Loopback is allowlisted by default (local proxies, monitors); the demo's clients are loopback.
WSGuardAllow none
<Location /wsguard-status>
    SetHandler wsguard-status
    Require ip 127.0.0.1
</Location>
$(cs_line a)
CONF

/usr/sbin/apache2 -f "$work/httpd.conf" -t
/usr/sbin/apache2 -f "$work/httpd.conf" -k start
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

req() {  # SOURCE-IP METHOD PATH -> status
    local data=()
    [ "$2" = POST ] && data=(--data "pass=test")
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface "$1" -X "$2" "${data[@]}" \
        --path-as-is "http://127.0.0.1:$port$3" || echo 000
}

echo
echo "== Three scanners replay 15 probes each from $corpus/probes-dev.txt"
for k in 1 2 3; do
    ip=127.1.$k.2
    line=$(( (k - 1) * 997 + 1 ))
    printf '%-11s' "$ip"
    sed -n "${line},$((line + 14))p" "$corpus/probes-dev.txt" | while read -r m p; do
        printf ' %s' "$(req "$ip" "$m" "$p")"
    done
    echo
done
echo
echo "== A visitor asks for ordinary pages (one of them a missing /wp-login.php: a miss scores 1)"
printf '%-11s' 127.2.0.2
for p in / /index.html /favicon.ico /about/ /wp-login.php; do printf ' %s' "$(req 127.2.0.2 GET "$p")"; done
echo
echo
echo "== The status page, as JSON (SetHandler wsguard-status, Require ip 127.0.0.1)"
# (into a file first: head closing the pipe early would fail curl, and with it the demo)
curl -s "http://127.0.0.1:$port/wsguard-status?json" > "$work/status.json"
head -n 24 "$work/status.json"
echo
echo "== wsguardctl list (the LMDB state shared by every worker)"
"$ctl" -d "$work/state" list
echo
echo "== wsguardctl export --format nft (banned addresses with their remaining ban time)"
"$ctl" -d "$work/state" export --format nft || true
echo
# Refusals are logged one `refused` line per client and minute by each child, at the minute's end
# or when the child exits: a graceful restart makes the children write theirs now, so the report
# counts every request each scanner sent.
/usr/sbin/apache2 -f "$work/httpd.conf" -k graceful 2>/dev/null || true
sleep 1.5
echo "== wsguardctl report --format csv (a sharing package; also stix, misp, json: every request"
echo "   a scanner sent is counted, refused ones too)"
"$ctl" report --log "$work/logs/events.jsonl" --format csv || true
echo "(with --anonymise, private and loopback addresses such as these demo clients are left out)"
echo
echo "== Event log: $(wc -l < "$work/logs/events.jsonl") JSON lines, the first:"
head -n 1 "$work/logs/events.jsonl"
echo
echo "== mod_wsguard lines of the error log"
grep -i wsguard "$work/logs/error.log" | tail -n 8 || true

if [ -n "$fleet" ]; then
    # A second server of the fleet: prefork, its own port and state, the same LAPI.
    mkdir -p "$work/b/logs" "$work/b/run" "$work/b/state"
    chown -R www-data:www-data "$work/b"
    sed -e "s#^Listen .*#Listen 127.0.0.1:$((port + 1))#" -e "s#$work/run#$work/b/run#g" \
        -e "s#$work/logs#$work/b/logs#g" -e "s#^WSGuardStateDir .*#WSGuardStateDir $work/b/state#" \
        -e "s#mpm_event_module .*mod_mpm_event.so#mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so#" \
        -e "s#^WSGuardCrowdSec .*#$(cs_line b)#" "$work/httpd.conf" > "$work/b/httpd.conf"
    /usr/sbin/apache2 -f "$work/b/httpd.conf" -k start
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$((port + 1))/" && break; sleep 0.1; done
    sleep 1.5   # both logged in to the LAPI and made their first pull
    bport=$((port + 1))
    reqb() { local p=$port; port=$bport; req "$@"; port=$p; }
    since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
    over5() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { exit !(a - b > 5) }'; }
    echo
    echo "== A fleet: CrowdSec LAPI $LAPI_URL (crowdsec -no-cs -no-capi, its own config), server A :$port (event), B :$bport (prefork)"
    echo "   each server: WSGuardCrowdSec $LAPI_URL machine=demo-X password-file=... bouncer-key-file=... interval=1s"
    s=127.3.0.2
    printf 'B before: %s   ' "$(reqb $s GET /)"
    printf 'scanner %s on A:' "$s"
    while read -r m p; do
        st=$(req $s "$m" "$p"); printf ' %s' "$st"; [ "$st" = 403 ] && break
    done < <(sed -n '2001,2040p' "$corpus/probes-dev.txt")
    t0=$(date +%s.%N)
    while [ "$(reqb $s GET /)" != 403 ]; do
        over5 "$t0" && break; sleep 0.05
    done
    printf '\nB refuses it %s s after A did: %s\n' "$(since "$t0")" "$(reqb $s GET /)"
    echo "-- the LAPI holds A's decision (cscli decisions list -a):"
    cscli -c "$LAPI_CONF" decisions list -a 2>/dev/null | grep -E "ID|$s" || true
    echo "-- wsguardctl list on B (ORIGIN says who made the ban):"
    "$ctl" -d "$work/b/state" list --banned
    echo "-- wsguardctl unban $s on A (queued for the LAPI, sent by A's sync):"
    "$ctl" -d "$work/state" unban "$s" || true
    t0=$(date +%s.%N)
    while [ "$(reqb $s GET /)" != 200 ]; do
        over5 "$t0" && break; sleep 0.05
    done
    printf 'B serves it again %s s later: %s\n' "$(since "$t0")" "$(reqb $s GET /)"
    echo "-- wsguardctl stats on A, the sync's part:"
    "$ctl" -d "$work/state" stats | grep crowdsec
else
    echo
    echo "(CrowdSec is not installed, so no fleet shown: sh scripts/deps.sh installs it; the README's"
    echo " 'CrowdSec: a fleet sharing its bans' says how to set one up)"
fi
echo
echo "(files kept in $work)"
