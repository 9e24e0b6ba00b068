#!/bin/bash
# The Debian package, end to end, as a Debian admin would use it (as root; make deb-test):
#   builds libapache2-mod-wsguard from the working tree (in a copy, outside the tree), runs lintian
#   (errors and warnings fail), installs it with apt, enables it with a2enmod wsguard, passes
#   apache2ctl configtest, starts Debian's own apache2 with its stock configuration, bans a scan
#   from 127.0.0.2, sees it with the installed wsguardctl, checks a local rule in
#   /etc/mod_wsguard/rules.d is in force, the state and event log modes, the man pages, the
#   systemd units (installed, not enabled), that the installed wsguard-rules-update updates the
#   shipped rules and keeps the local ones, then stops apache2, purges the package and checks
#   that nothing of it is left.
# The stock configuration listens on *:80: apache2 runs in a network namespace of its own that has
# only a loopback interface, so only the test's loopback clients can reach it. policy-rc.d keeps
# the maintainer scripts from starting or reloading the system's apache2 meanwhile. Everything the
# test changes is undone on exit, success or not.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
PKG=libapache2-mod-wsguard
NS=wsgdeb-$$
log() { printf '== %s\n' "$*"; }
fail() { printf 'test-deb: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs and purges the package)"
for t in dpkg-buildpackage dh_apache2 lintian apt-get a2enmod apache2ctl man ip curl; do
    command -v "$t" >/dev/null || fail "$t is missing: sh scripts/deps.sh"
done
# One run at a time on this machine (the package and apache2 are the system's).
exec 9>/run/lock/wsguard-deb-test.lock
flock -w 600 9 || fail "another test-deb run holds /run/lock/wsguard-deb-test.lock"
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'installed'; then
    fail "$PKG is installed already: this test installs and purges it (apt-get purge $PKG first)"
fi
if [ -s /var/run/apache2/apache2.pid ] && kill -0 "$(cat /var/run/apache2/apache2.pid)" 2>/dev/null; then
    fail "the system's apache2 is running: this test starts and stops it"
fi

work=$(mktemp -d /tmp/wsguard-deb.XXXXXX)
made_policy=0
started=0
cleanup() {
    rc=$?
    set +e
    if [ "$started" = 1 ]; then
        ip netns exec "$NS" apache2ctl stop >/dev/null 2>&1
        for _ in $(seq 50); do [ -e /var/run/apache2/apache2.pid ] || break; sleep 0.1; done
    fi
    ip netns del "$NS" 2>/dev/null
    if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'installed\|config-files'; then
        rm -f /etc/mod_wsguard/rules.d/95-deb-test.rules
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >/dev/null 2>&1
    fi
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    rm -rf "$work"
    [ $rc = 0 ] || echo "test-deb: failed (rc $rc); the machine is restored" >&2
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

log "copy of the working tree into $work/src"
mkdir "$work/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    # tracked and new files as they are in the working tree, without build output
    git -C "$top" ls-files -z -co --exclude-standard | tar -C "$top" --null -T - -cf - | tar -C "$work/src" -xf -
else
    tar -C "$top" --exclude='./build*' --exclude=./Makefile --exclude=./configure -cf - . | tar -C "$work/src" -xf -
fi

log "dpkg-buildpackage -us -uc -b (unit tests: make check runs them)"
t0=$(date +%s)
(cd "$work/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
    { tail -n 40 "$work/build.log"; fail "dpkg-buildpackage failed"; }
deb=$(ls "$work"/${PKG}_*.deb)
echo "built $(basename "$deb") in $(( $(date +%s) - t0 ))s"

log "lintian (errors and warnings fail; overrides must say why)"
lrc=0
lintian --fail-on error,warning --pedantic -I "$work"/${PKG}_*.changes >"$work/lintian.log" 2>&1 || lrc=$?
grep -v 'running with root' "$work/lintian.log" || true
[ "$lrc" = 0 ] || fail "lintian found errors or warnings (rc $lrc)"

log "apt-get install ./$(basename "$deb")"
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
    { tail -n 20 "$work/apt.log"; fail "apt-get install failed"; }
[ -e /etc/apache2/mods-enabled/wsguard.load ] && fail "the install enabled the module (a2enmod is the admin's)"
st=$(stat -c '%U:%G %a' /var/lib/apache2/wsguard)
[ "$st" = "www-data:www-data 750" ] || fail "/var/lib/apache2/wsguard is $st, want www-data:www-data 750"
st=$(stat -c '%U:%G %a' /var/log/apache2/wsguard-events.log)
[ "$st" = "root:adm 640" ] || fail "the event log is $st, want root:adm 640"
for f in /lib/systemd/system/wsguard-fwsync.service /lib/systemd/system/wsguard-fwsync.timer; do
    [ -f "$f" ] || fail "$f is missing"
done
if ls /etc/systemd/system/*.wants/wsguard-fwsync.* >/dev/null 2>&1; then
    fail "the fwsync units were enabled"
fi
grep -q '/usr/sbin/wsguard-fwsync .*--wsguardctl /usr/bin/wsguardctl' /lib/systemd/system/wsguard-fwsync.service ||
    fail "the service does not name the installed programs"
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q '/etc/mod_wsguard/rules.d/90-local.rules' ||
    fail "the local rules are not a conffile"
for p in wsguardctl wsguard-fwsync wsguard-rules-update; do
    command -v "$p" >/dev/null || fail "$p is not in PATH"
    "$p" --version | grep -q "^$p (mod_wsguard) " || fail "$p --version"
done
for page in wsguardctl wsguard-fwsync wsguard-rules-update "7 mod_wsguard"; do
    # shellcheck disable=SC2086
    m=$(man -w $page) || fail "man -w $page finds nothing"
    echo "man: $m"
done

log "a2enmod wsguard, a local rule, apache2ctl configtest"
a2enmod wsguard >/dev/null
[ -L /etc/apache2/mods-enabled/wsguard.load ] && [ -L /etc/apache2/mods-enabled/wsguard.conf ] ||
    fail "a2enmod did not enable wsguard"
echo 'id=690001 score=10 tag=local msg="deb test" path.eq=/wsguard-deb-test.php' \
    > /etc/mod_wsguard/rules.d/95-deb-test.rules
apache2ctl configtest 2>&1 | tail -n 3
apache2ctl configtest >/dev/null 2>&1 || fail "apache2ctl configtest"

log "Debian's apache2, stock configuration, in network namespace $NS (loopback only)"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
started=1
ip netns exec "$NS" apache2ctl start || fail "apache2ctl start"
in_ns() { ip netns exec "$NS" "$@"; }
get() {  # SOURCE PATH -> status
    in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface "$1" --path-as-is \
        "http://127.0.0.1$2" || echo 000
}
for _ in $(seq 50); do [ "$(get 127.0.0.1 /)" = 200 ] && break; sleep 0.1; done
[ "$(get 127.0.0.1 /)" = 200 ] || fail "apache2 does not answer on 127.0.0.1:80"

log "a scan from 127.0.0.2 (probes-dev.txt), until it is refused"
codes=""
while read -r _m p; do
    c=$(get 127.0.0.2 "$p")
    codes="$codes $c"
    [ "$c" = 403 ] && break
done < <(grep '^GET ' tests/corpus/probes-dev.txt | head -n 30)
echo "statuses:$codes"
[ "${codes##* }" = 403 ] || fail "the scan was never banned"
[ "$(get 127.0.0.2 /)" = 403 ] || fail "the banned scanner still gets pages"
[ "$(get 127.0.0.4 /)" = 200 ] || fail "an innocent client is refused"
[ "$(get 127.0.0.3 /wsguard-deb-test.php)" = 403 ] ||
    fail "the local rule in /etc/mod_wsguard/rules.d is not in force"

log "the installed wsguardctl list --banned"
out=$(wsguardctl list --banned)
echo "$out"
grep -q '^127\.0\.0\.2 ' <<<"$out" || fail "wsguardctl list does not show 127.0.0.2 banned"
[ -s /var/log/apache2/wsguard-events.log ] || fail "no events in /var/log/apache2/wsguard-events.log"
grep -q '"127.0.0.2"' /var/log/apache2/wsguard-events.log || fail "the ban is not in the event log"

log "the installed wsguard-rules-update with its defaults: a bundle for the shipped rules"
mkdir "$work/bundle"
cp /usr/share/mod_wsguard/rules/*.rules "$work/bundle/"
echo 'id=690002 score=10 tag=update msg="deb test update" path.eq=/wsguard-deb-update.php' \
    > "$work/bundle/60-deb-update.rules"
tar -C "$work/bundle" -czf "$work/bundle.tar.gz" .
sha=$(sha256sum "$work/bundle.tar.gz" | cut -d' ' -f1)
wsguard-rules-update --sha256 "$sha" "$work/bundle.tar.gz" || fail "wsguard-rules-update failed"
[ -f /usr/share/mod_wsguard/rules/60-deb-update.rules ] || fail "the update is not in the shipped rules"
cmp -s rules/local/90-local.rules /etc/mod_wsguard/rules.d/90-local.rules &&
    [ -f /etc/mod_wsguard/rules.d/95-deb-test.rules ] || fail "the update touched /etc/mod_wsguard/rules.d"
for _ in $(seq 50); do [ "$(get 127.0.0.5 /wsguard-deb-update.php)" = 403 ] && break; sleep 0.2; done
[ "$(get 127.0.0.6 /wsguard-deb-update.php)" = 403 ] || fail "the updated rules are not in force"
[ "$(get 127.0.0.7 /wsguard-deb-test.php)" = 403 ] || fail "the local rule is gone after the update"

log "apache2ctl stop"
in_ns apache2ctl stop
for _ in $(seq 100); do [ -e /var/run/apache2/apache2.pid ] || break; sleep 0.1; done
[ -e /var/run/apache2/apache2.pid ] && fail "apache2 did not stop"
started=0

log "apt-get purge $PKG"
rm -f /etc/mod_wsguard/rules.d/95-deb-test.rules
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >"$work/purge.log" 2>&1 ||
    { tail -n 20 "$work/purge.log"; fail "apt-get purge failed"; }
left=$(ls -d /etc/apache2/mods-*/wsguard.* /etc/mod_wsguard /var/lib/apache2/wsguard \
       /usr/share/mod_wsguard /var/log/apache2/wsguard-events.log* /usr/lib/apache2/modules/mod_wsguard.so \
       /lib/systemd/system/wsguard-fwsync.* /usr/bin/wsguardctl 2>/dev/null || true)
[ -z "$left" ] || fail "left after purge: $left"
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'installed\|config-files' &&
    fail "dpkg still knows $PKG"
log "test-deb: OK"
