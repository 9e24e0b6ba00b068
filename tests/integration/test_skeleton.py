"""Issue 2, the walking skeleton end to end: a real httpd (prefork with 16 children, event with
4 processes x 4 threads) with the built module bans a scanner after exactly the probes the policy
allows, whichever child serves each request, and nobody else; the ban survives graceful and a full
restart; configtest names broken directives and rule files; wsguardctl lists the ban.

Every request is a new TCP connection (KeepAlive Off), so consecutive requests of one client land
on different children: a per-process counter could not pass these tests.
"""
import json
import re
import time

import pytest

import wsg_httpd

T = 5                               # ban threshold used below, rules score 1
SCAN = "WSGuardThresholds off %d\nWSGuardAllow none" % T


def probes(n, tag="p"):
    # Under /probe/ (rule 9001, score 1) and without a script extension: no miss score either.
    return ["/probe/%s%d" % (tag, i) for i in range(n)]


def test_scanner_banned_at_threshold_on_every_child(httpd, mpm):
    import threading
    h = httpd(mpm=mpm, wsguard=SCAN)
    h.start()
    # Clean traffic from another /24 runs alongside, so that the scanner's connections are taken by
    # whichever child is free (a lone sequential client is often served by one prefork child).
    done = threading.Event()

    def noise():
        for _ in range(2000):
            if done.is_set():
                break
            wsg_httpd.status(h.port, "/index.html", src="127.8.0.9")

    bg = [threading.Thread(target=noise) for _ in range(3)]
    for t in bg:
        t.start()
    try:
        got = h.statuses(probes(T + 5), src="127.9.0.2")
    finally:
        done.set()
        for t in bg:
            t.join(30)
    assert got == [404] * (T - 1) + [403] * 6, got
    # A non-probe request of the banned client is refused too (the ban is per client).
    assert h.status("/index.html", src="127.9.0.2") == 403
    # The requests really were spread over several processes.
    pids = {pid for (client, pid, _, _) in h.access_entries() if client == "127.9.0.2"}
    assert len(pids) >= 2, "all requests served by one process %s: the test proves nothing" % pids
    # A second client (same /24, so also no prefix ban from one scanner) is unaffected.
    assert h.status("/index.html", src="127.9.0.3") == 200
    assert h.statuses(probes(T - 1, "q"), src="127.9.0.3") == [404] * (T - 1)
    assert h.status("/index.html", src="127.9.0.3") == 200
    ban = h.wait_events(lambda e: e.get("client") == "127.9.0.2" and e.get("event") == "ban")
    assert len(ban) == 1, ban
    assert ban[0].get("ban_until"), ban[0]


def test_parallel_clients_exact_count(httpd, mpm):
    """Several scanners at once, each on its own connections: no lost updates between children."""
    import concurrent.futures as cf
    h = httpd(mpm=mpm, wsguard=SCAN)
    h.start()
    srcs = ["127.9.%d.2" % k for k in range(1, 7)]
    with cf.ThreadPoolExecutor(len(srcs)) as ex:
        res = dict(zip(srcs, ex.map(lambda s: h.statuses(probes(T + 2), src=s), srcs)))
    for s, got in res.items():
        assert got == [404] * (T - 1) + [403] * 3, (s, got)


def test_allowlisted_client_never_blocked(httpd, mpm):
    h = httpd(mpm=mpm, wsguard="WSGuardThresholds off %d\nWSGuardAllow 127.9.0.4 10.0.0.0/8" % T)
    h.start()
    assert h.statuses(probes(3 * T), src="127.9.0.4") == [404] * (3 * T)
    assert h.status("/index.html", src="127.9.0.4") == 200
    # Nothing of the allowlisted client is tracked.
    assert not h.events(client="127.9.0.4")
    # Not on the list: banned as usual.
    assert h.statuses(probes(T), src="127.9.0.5") == [404] * (T - 1) + [403]


def test_default_allowlist_is_localhost(httpd, mpm):
    # No WSGuardAllow: 127.0.0.1 (a local proxy or monitor) is never blocked, 127.9.0.6 is.
    h = httpd(mpm=mpm, wsguard="WSGuardThresholds off %d" % T)
    h.start()
    assert h.statuses(probes(2 * T), src="127.0.0.1") == [404] * (2 * T)
    assert h.statuses(probes(T), src="127.9.0.6") == [404] * (T - 1) + [403]


def test_detection_only_logs_never_blocks(httpd, mpm):
    h = httpd(mpm=mpm, wsguard=SCAN + "\nWSGuardEngine DetectionOnly")
    h.start()
    n = 2 * T + 2
    assert h.statuses(probes(n), src="127.9.0.2") == [404] * n
    assert h.status("/index.html", src="127.9.0.2") == 200
    evs = h.wait_events(lambda e: e.get("client") == "127.9.0.2")
    scored = [e for e in h.events(client="127.9.0.2") if e.get("event") in ("probe", "ban")]
    assert len(scored) == n, [e.get("event") for e in evs]
    # From the threshold on, the events say what would have happened.
    assert any(e.get("action") == "detect" for e in scored), scored[-1]
    assert all(e.get("action") != "ban" for e in scored), scored


def test_detection_only_bans_are_recorded_as_such_never_exported(httpd, mpm):
    """DetectionOnly is detection only: its would-be ban is recorded flagged DETECT, shown as
    such, absent from every export (firewalls, peers), and logged as one "ban" event per client,
    not one per request after it."""
    h = httpd(mpm=mpm, wsguard=SCAN + "\nWSGuardEngine DetectionOnly")
    h.start()
    n = 3 * T
    assert h.statuses(probes(n), src="127.9.0.2") == [404] * n
    assert h.wait_events(lambda e: e.get("client") == "127.9.0.2" and e.get("event") == "ban")
    time.sleep(0.5)
    bans = h.events(client="127.9.0.2", event="ban")
    assert len(bans) == 1 and bans[0]["action"] == "detect", bans
    rc, out, err = h.ctl("list", "--json")
    rows = [r for r in json.loads(out) if r["address"] == "127.9.0.2"]
    assert rows and "DETECT" in rows[0]["flags"] and rows[0]["ban_remaining_s"] > 0, rows
    for fmt in ("plain", "json", "nft", "ipset", "iptables", "pf"):
        rc, out, err = h.ctl("export", "--format", fmt)
        assert rc == 0, err
        assert "127.9.0.2" not in out, (fmt, out)
    # A ban made by an enforcing engine is exported (and clears the flag).
    h.write_config(wsguard=SCAN)
    h.graceful()
    assert h.statuses(probes(T, "on"), src="127.9.0.3") == [404] * (T - 1) + [403]
    rc, out, err = h.ctl("export", "--format", "plain")
    assert "127.9.0.3" in out and "127.9.0.2" not in out, out


def test_engine_off_in_location(httpd, mpm):
    # WSGuardEngine is also a per-directory switch: probes under /probe/open/ are not scored.
    h = httpd(mpm=mpm, wsguard=SCAN, extra="<Location /probe/open/>\n  WSGuardEngine Off\n</Location>")
    h.start()
    assert h.statuses(["/probe/open/x%d" % i for i in range(2 * T)], src="127.9.0.2") == [404] * (2 * T)
    assert h.statuses(probes(T), src="127.9.0.2") == [404] * (T - 1) + [403]


def test_ban_survives_graceful_and_restart(httpd, mpm):
    h = httpd(mpm=mpm, wsguard=SCAN)
    h.start()
    assert h.statuses(probes(T), src="127.9.0.2") == [404] * (T - 1) + [403]
    h.graceful()
    assert h.status("/index.html", src="127.9.0.2") == 403
    assert h.status("/index.html", src="127.9.0.3") == 200
    h.restart()
    assert h.statuses(["/index.html"] * 4, src="127.9.0.2") == [403] * 4
    assert h.status("/index.html", src="127.9.0.3") == 200
    # The partial score of another client survives too: one more probe than it had left bans it.
    assert h.statuses(probes(T - 2, "q"), src="127.9.0.3") == [404] * (T - 2)
    h.restart()
    assert h.statuses(probes(2, "r"), src="127.9.0.3") == [404, 403]


def test_wsguardctl_lists_the_ban(httpd, wsguardctl, mpm):
    h = httpd(mpm=mpm, wsguard=SCAN)
    h.start()
    h.statuses(probes(T), src="127.9.0.2")
    h.statuses(probes(2, "q"), src="127.9.0.3")
    rc, out, err = h.ctl("list")                   # while httpd runs
    assert rc == 0, err
    assert re.search(r"(?m)^.*\b127\.9\.0\.2\b.*$", out), out
    assert "127.9.0.3" in out, out
    rc, out, err = h.ctl("list", "--banned")
    assert rc == 0, err
    assert "127.9.0.2" in out and "127.9.0.3" not in out, out


# --- configtest ----------------------------------------------------------------------------------

BAD_DIRECTIVES = [
    ("WSGuardThresholds 10 5", "WSGuardThresholds"),
    ("WSGuardThresholds five 10", "WSGuardThresholds"),
    ("WSGuardBanTime soon", "WSGuardBanTime"),
    ("WSGuardBanTime 1h max=forever", "WSGuardBanTime"),
    ("WSGuardAllow 300.1.1.1/8", "WSGuardAllow"),
    ("WSGuardAllow 10.0.0.0/33", "WSGuardAllow"),
    ("WSGuardEngine Maybe", "WSGuardEngine"),
    ("WSGuardScoreHalfLife -5m", "WSGuardScoreHalfLife"),
    ("WSGuardPrefixBan lots", "WSGuardPrefixBan"),
    ("WSGuardMissScore x", "WSGuardMissScore"),
    ("WSGuardMapSize huge", "WSGuardMapSize"),
    ("WSGuardMapSize 64K", "at least 1M"),
]


@pytest.mark.parametrize("line,name", BAD_DIRECTIVES, ids=[b[0] for b in BAD_DIRECTIVES])
def test_configtest_rejects_bad_directive(httpd, line, name):
    h = httpd(wsguard=line)
    rc, out = h.configtest()
    assert rc != 0, "configtest accepted %r:\n%s" % (line, out)
    assert name in out, out
    # The message points at the config line (httpd adds "on line N of FILE").
    assert h.conf_path in out, out
    # A broken config must not start either.
    with pytest.raises(RuntimeError):
        h.start()


def test_configtest_accepts_good_config(httpd):
    h = httpd(wsguard="WSGuardEngine DetectionOnly\nWSGuardThresholds off 7\nWSGuardBanTime 30s max=2h\n"
                      "WSGuardScoreHalfLife off\nWSGuardAllow 10.0.0.0/8 2001:db8::/32\n"
                      "WSGuardPrefixBan off\nWSGuardMissScore 2\nWSGuardMapSize 1M")
    rc, out = h.configtest()
    assert rc == 0, out
    assert "Syntax OK" in out, out


BAD_RULES = [
    # (file text, line, what the message must mention)
    ('id=1 score=1 tag=php-shell msg="ok" path.prefix=/a/\nid=2 score=1 tag=php-shell msg="x" pth=/b\n', 2, None),
    ('id=1 score=1 tag=php-shell msg="ok" path.prefix=/a/\n\nid=3 score=1 tag=x msg="x" path.re=(unclosed\n', 3, None),
    ('id=1 score=1 tag=php-shell msg="ok" path.prefix=/a/\nid=1 score=1 tag=php-shell msg="dup" path=/b\n', 2, None),
    ('id=7 score=1 tag=php-shell msg="unterminated path=/x\n', 1, None),
]


@pytest.mark.parametrize("text,line,_", BAD_RULES, ids=["unknown-field", "bad-regex", "duplicate-id", "open-quote"])
def test_configtest_names_broken_rule_file_and_line(httpd, text, line, _):
    h = httpd(rules=text)
    rc, out = h.configtest()
    assert rc != 0, "configtest accepted a broken rule file:\n" + out
    assert re.search(re.escape(h.rules_path) + r":%d:\d+" % line, out), \
        "the message must name %s:%d:COL:\n%s" % (h.rules_path, line, out)


def test_missing_rules_path_fails_configtest(httpd):
    h = httpd(rules=None, wsguard="WSGuardRules /nonexistent/wsguard/*.rules")
    rc, out = h.configtest()
    assert rc != 0, out
    assert "/nonexistent/wsguard" in out, out


def test_broken_rules_at_graceful_keep_old_rules(httpd, mpm):
    """A graceful restart with a broken rule file keeps serving with the rules in force."""
    h = httpd(mpm=mpm, wsguard=SCAN)
    h.start()
    with open(h.rules_path, "a") as f:
        f.write("id=9002 score=1 this is not a rule\n")
    # apache2 -k graceful checks the config first: it refuses, naming the file and line, and the
    # running server is untouched.
    with pytest.raises(RuntimeError, match=re.escape(h.rules_path) + ":2:"):
        h.graceful()
    assert h.status("/index.html", src="127.9.0.2") == 200
    # A bare SIGUSR1 (no configtest): the module keeps the rules in force and says why.
    h.expect_log(r"AH19402|rules not reloaded")
    h.graceful(signal_only=True)
    assert h.wait_error_line(r"rules not reloaded.*%s:2:" % re.escape(h.rules_path)), h.read_error_log()[-2000:]
    assert h.status("/index.html", src="127.9.0.2") == 200
    assert h.statuses(probes(T), src="127.9.0.2") == [404] * (T - 1) + [403]


def test_parent_exits_cleanly_after_graceful(httpd, mpm):
    """httpd unloads and reloads the module at every graceful restart and at exit: anything the
    module leaves behind (a pool cleanup pointing into the unloaded .so) crashes the parent there.
    Run in the foreground to see the parent's exit status."""
    import os
    import signal
    import subprocess
    import time
    h = httpd(mpm=mpm, wsguard=SCAN)
    p = subprocess.Popen([wsg_httpd.APACHE, "-d", h.root, "-f", h.conf_path, "-DFOREGROUND"],
                         start_new_session=True)     # httpd signals its whole process group
    try:
        deadline = time.time() + 15
        while time.time() < deadline and not h._port_answers():
            time.sleep(0.1)
        assert h.statuses(probes(T), src="127.9.0.2") == [404] * (T - 1) + [403]
        for _ in range(2):
            h.graceful(signal_only=True)
            assert h.status("/index.html", src="127.9.0.2") == 403
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
    assert rc == 0, "httpd parent exited with %d (negative: killed by that signal)" % rc
