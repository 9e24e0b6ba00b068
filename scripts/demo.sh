#!/bin/bash
# The main job, end to end, on this machine: installs what is needed, builds, starts a real httpd on
# 127.0.0.1 with mod_wsguard and the shipped rules, replays a short real scan (lines of the
# development corpus) from a few scanner addresses alongside a visitor, then shows what was refused,
# the ban list, the firewall export and the sharing report, and stops the server.
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
CONF

/usr/sbin/apache2 -f "$work/httpd.conf" -t
/usr/sbin/apache2 -f "$work/httpd.conf" -k start
trap '/usr/sbin/apache2 -f "$work/httpd.conf" -k stop 2>/dev/null || true' EXIT
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
curl -s "http://127.0.0.1:$port/wsguard-status?json" | head -n 24
echo
echo "== wsguardctl list (the LMDB state shared by every worker)"
"$ctl" -d "$work/state" list
echo
echo "== wsguardctl export --format nft (banned addresses with their remaining ban time)"
"$ctl" -d "$work/state" export --format nft || true
echo
echo "== wsguardctl report --format csv (a sharing package; also stix, misp, json)"
"$ctl" report --log "$work/logs/events.jsonl" --format csv || true
echo "(with --anonymise, private and loopback addresses such as these demo clients are left out)"
echo
echo "== Event log: $(wc -l < "$work/logs/events.jsonl") JSON lines, the first:"
head -n 1 "$work/logs/events.jsonl"
echo
echo "== mod_wsguard lines of the error log"
grep -i wsguard "$work/logs/error.log" | tail -n 8 || true
echo
echo "(files kept in $work)"
