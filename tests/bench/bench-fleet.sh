#!/bin/bash
# bench-fleet: a fleet of two real httpd servers (A prefork, B event, each a full CrowdSec member
# with WSGuardCrowdSec ... interval=1s, own ports and state dirs) and one real LAPI (Debian's
# crowdsec on 127.0.0.1, a config of its own, stopped by pid on exit). Prints:
#   ban propagation A -> B over S (default 50) scanners, each a distinct 127.a.b.c: from A's
#   refusal (the probe answered 403) to B's first 403 for that address, p50 / p90 / p99 / max;
#   N (default 10,000) bans queued in A's outbox: time until A pushed them all (backlog 0) and
#   until B holds them all in its LMDB store (pushed by A's sync, pulled and applied by B's).
#   tests/bench/bench-fleet.sh [-s SCANNERS] [-n N] [-i INTERVAL] [-b BUILD_DIR]
# Raw client/LAPI figures (no httpd): tests/bench/bench-lapi.sh.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
S=50
N=10000
INTERVAL=1s
BUILD=${WSG_BUILD:-$REPO/build}
while getopts "s:n:i:b:" o; do
    case $o in
        s) S=$OPTARG ;;
        n) N=$OPTARG ;;
        i) INTERVAL=$OPTARG ;;
        b) BUILD=$OPTARG ;;
        *) echo "usage: $0 [-s SCANNERS] [-n N] [-i INTERVAL] [-b BUILD_DIR]" >&2; exit 2 ;;
    esac
done
[[ "$BUILD" = /* ]] || BUILD=$REPO/$BUILD
[ -f "$BUILD/mod_wsguard.so" ] && [ -x "$BUILD/tests/lapi_driver" ] \
    || { echo "bench-fleet: build first (make), or pass -b BUILD_DIR" >&2; exit 1; }
command -v crowdsec >/dev/null || { echo "crowdsec is not installed: sh scripts/deps.sh" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-fleet: run as root (httpd binds as root, children as www-data)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/wsg-bench-fleet.XXXXXX)
chmod 755 "$WORK"
[ -n "${WSG_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

cd "$REPO/tests/integration"
WSG_BUILD=$BUILD WSG_TMP=$WORK S=$S N=$N INTERVAL=$INTERVAL BUILD=$BUILD /usr/bin/python3 - <<'PY'
import json, os, random, subprocess, sys, time
from lapi import CrowdSecLAPI
import wsg_httpd

S, N, INTERVAL, BUILD = int(os.environ["S"]), int(os.environ["N"]), os.environ["INTERVAL"], os.environ["BUILD"]
lapi = CrowdSecLAPI()
servers = []


def secret(h, name, text):
    p = os.path.join(h.root, "conf", name)
    with open(p, "w") as f:
        f.write(text + "\n")
    os.chmod(p, 0o600)
    return p


def member(mpm, name):
    h = wsg_httpd.WSGHttpd(mpm=mpm, name="bench-fleet-" + name, event_log=False, loglevel="warn")
    pw, key = lapi.add_machine(name), lapi.add_bouncer(name + "-bouncer")
    h.write_config(wsguard="WSGuardAllow none\nWSGuardThresholds off 3\n"
                           "WSGuardCrowdSec %s machine=%s password-file=%s bouncer-key-file=%s "
                           "interval=%s" % (lapi.url, name, secret(h, "pw", pw),
                                            secret(h, "key", key), INTERVAL))
    h.start()
    servers.append(h)
    return h


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


def ctl_json(h, *args):
    return json.loads(subprocess.run([wsg_httpd.wsguardctl_path(), "-d", h.state_dir] + list(args),
                                     capture_output=True, text=True, check=True).stdout)


try:
    lapi.start()
    ver = subprocess.run(["crowdsec", "-version"], capture_output=True, text=True)
    ver = next((l.split("version:", 1)[1].strip() for l in (ver.stdout + ver.stderr).splitlines()
                if "version:" in l), "?")
    a, b = member("prefork", "bench-a"), member("event", "bench-b")
    time.sleep(1.5)                     # both logged in and made their first pull
    print("bench-fleet: crowdsec %s (SQLite, WAL), A prefork :%d, B event :%d, interval=%s"
          % (ver, a.port, b.port, INTERVAL))

    lat = []
    tick = float(INTERVAL[:-1]) * (60 if INTERVAL.endswith("m") else 1) if INTERVAL[-1] in "sm" else 1.0
    rnd = random.Random(9)
    for i in range(S):
        time.sleep(rnd.random() * tick)     # any phase of the two servers' sync ticks
        # each in a /24 of its own: addresses of one /24 would add up to a prefix ban on A,
        # which refuses the later ones without a ban of their own to share
        src = "127.%d.%d.10" % (86 + i // 250, i % 250)
        for k in range(10):
            if a.status("/probe/shell%d.php" % k, src=src) == 403:
                break
        else:
            sys.exit("A never banned %s" % src)
        t_a = time.time()
        while b.status("/", src=src) != 403:
            if time.time() - t_a > 15:
                sys.exit("B never refused %s" % src)
            time.sleep(0.01)
        lat.append(time.time() - t_a)
    print("%-62s p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s"
          % ("ban propagation A -> B, %d scanners (refused on A -> on B)" % S,
             pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat)))

    # N bans through the fleet: queued in A's outbox (as A's User, like the request path does)
    drv = os.path.join(BUILD, "tests", "lapi_driver")
    base_b = ctl_json(b, "stats", "--json")["banned_addresses"]
    t0 = time.time()
    out = subprocess.run(["runuser", "-u", "www-data", "--", drv, "enqueuen", a.state_dir, str(N),
                          "3600"], capture_output=True, text=True, check=True).stdout
    t_q = time.time()
    pushed = most = pulled = None
    while time.time() - t0 < 90 and (pushed is None or pulled is None):
        if pushed is None and ctl_json(a, "stats", "--json")["crowdsec"]["backlog"] == 0:
            pushed = time.time() - t_q
        got = ctl_json(b, "stats", "--json")["banned_addresses"] - base_b
        if most is None and got >= N * 0.99:
            most = time.time() - t_q
        if pulled is None and got >= N:
            pulled = time.time() - t_q
        time.sleep(0.05)
    if pushed is None or pulled is None:
        sys.exit("%d bans did not cross the fleet within 90 s (pushed %s, on B %s of them)"
                 % (N, pushed, got))
    print("%-62s %.2f s" % ("queue %d bans in A's outbox (lapi_driver enqueuen)" % N, t_q - t0))
    print("%-62s %.2f s" % ("  ... pushed by A's sync task (backlog 0)", pushed))
    print("%-62s %.2f s" % ("  ... 99% of them in B's store (B's delta pulls)", most))
    print("%-62s %.2f s%s" % ("  ... all %d in B's store" % N, pulled,
                              " (the rest by B's full pull: the 1.4.6 stream skips an alert "
                              "written while B polls)" if pulled - most > 2 * tick else ""))
    sb = ctl_json(b, "stats", "--json")
    print("B: %d crowdsec bans in force, pulled %d new in total; LAPI RSS %s"
          % (sb["crowdsec_bans"], sb["crowdsec"]["pulled_new"],
             subprocess.run(["ps", "-o", "rss=", "-p", str(lapi.proc.pid)], capture_output=True,
                            text=True).stdout.strip() + " kB"))
    for h in servers:
        h.expect_log(r"AH1954[0-7]")
        bad = h.unexpected_log_lines()
        if bad:
            print("unexpected error-log lines in %s:\n%s" % (h.error_log, "\n".join(bad[:10])))
finally:
    for h in servers:
        try:
            h.stop()
        except Exception as e:  # noqa: BLE001
            print("stop:", e)
    lapi.stop() if os.environ.get("WSG_KEEP") else lapi.cleanup()
PY
