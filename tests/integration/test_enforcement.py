"""Issue 4: scanner tracking and enforcement across workers, against a real httpd (prefork with 16
children, event with 4x4): exact refusal points for parallel scanners with clean traffic beside
them, the rate-limit tier (429 + Retry-After), slow scans and decay, escalating bans, the 2xx-probe
alert, 404 misses on script names, prefix bans, persistence across graceful/restart, and failing
open when LMDB is full, unusable or corrupt.
"""
import concurrent.futures as cf
import glob
import math
import os
import re
import shutil
import time

import pytest

from wsg_httpd import ClientError

RULES = ('id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'
         'id=9002 score=3 tag=shell-family msg="strong probe" basename=wso.php\n')


def probes(n, tag="p", ext=".php"):
    return ["/probe/%s%d%s" % (tag, i, ext) for i in range(n)]


def run_parallel(fns, timeout=120):
    with cf.ThreadPoolExecutor(len(fns)) as ex:
        futs = [ex.submit(f) for f in fns]
        return [f.result(timeout=timeout) for f in futs]


# --- exactness under concurrency -----------------------------------------------------------------

@pytest.mark.parametrize("tiers", ["ban-only", "ratelimit+ban"])
def test_parallel_scanners_refused_exactly_clean_never(httpd, mpm, tiers):
    B = 6
    if tiers == "ban-only":
        conf, first_refusal = "WSGuardThresholds off %d" % B, 403
    else:
        conf, first_refusal = "WSGuardThresholds %d %d" % (B - 2, B), 429
    h = httpd(mpm=mpm, rules=RULES, wsguard=conf + "\nWSGuardAllow none")
    h.start()
    scanners = ["127.1.%d.2" % k for k in range(1, 9)]      # 8 scanners, 8 distinct /24s
    clean_src = "127.3.0.2"
    n = B + 6
    stop = []

    def scan(src):
        # .php probes under /probe/: the rule scores 1; a 404 on a matched probe adds no miss score.
        return h.statuses(probes(n, tag="s"), src=src)

    def clean():
        out = []
        deadline = time.time() + 60
        while not stop and time.time() < deadline and len(out) < 400:
            for p in ("/index.html", "/static/app.js", "/robots.txt", "/missing.html", "/blog/"):
                out.append(h.status(p, src=clean_src))
        return out

    with cf.ThreadPoolExecutor(len(scanners) + 1) as ex:
        cf_clean = ex.submit(clean)
        res = list(ex.map(scan, scanners))
        stop.append(1)
        clean_res = cf_clean.result(timeout=90)

    limit = B - 2 if tiers != "ban-only" else B
    for src, got in zip(scanners, res):
        assert got[:limit - 1] == [404] * (limit - 1), (src, got)
        assert got[limit - 1] == first_refusal, (src, got)
        assert all(s in (403, 429) for s in got[limit - 1:]), (src, got)
    assert clean_res and all(s in (200, 404) for s in clean_res), sorted(set(clean_res))
    assert clean_res.count(404) == len(clean_res) // 5, "clean requests refused"


def _retry_after(score, ratelimit, halflife):
    """The Retry-After the policy implies: whole seconds (rounded up) until score decays below the
    rate-limit tier (which starts WSG_SCORE_EPSILON = 0.05 under the threshold)."""
    return max(1, math.ceil(halflife * math.log2(score / (ratelimit - 0.05)) + 1e-6))


@pytest.mark.parametrize("halflife", [3600, 600])
def test_ratelimit_tier_429_with_retry_after(httpd, mpm, halflife):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds 3 100\nWSGuardScoreHalfLife %ds\n"
              "WSGuardAllow none" % halflife)
    h.start()
    t0 = time.time()
    got = [h.get(p, src="127.9.0.2") for p in probes(2)]
    assert [r.status for r in got] == [404, 404]
    r = h.get("/probe/third.php", src="127.9.0.2")
    assert r.status == 429, r
    # Three probes of score 1, decayed by at most the seconds they took: the policy's wait for
    # the score to fall below 3 - 0.05. Both bounds round to the same second for these half-lives.
    low = 1 + 2 * 2 ** (-(time.time() - t0) / halflife)
    want = _retry_after(3.0, 3, halflife)
    assert _retry_after(low, 3, halflife) == want
    assert r.headers.get("retry-after") == str(want), (want, r.headers)
    # Refuse in proportion: the rate-limited client's ordinary page is served; its next probe
    # is refused (a wait at least as long: the probe was scored).
    assert h.status("/index.html", src="127.9.0.2") == 200
    r = h.get("/probe/fourth.php", src="127.9.0.2")
    assert r.status == 429 and int(r.headers.get("retry-after")) >= want, (want, r, r.headers)
    # Neighbours are not.
    assert h.status("/index.html", src="127.9.0.3") == 200


def test_ban_escalates_up_to_max(httpd, mpm):
    """WSGuardBanTime 2s max=4s: bans of 2 s, then 4 s, then 4 s (capped)."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3\nWSGuardBanTime 2s max=4s\nWSGuardAllow none")
    h.start()
    src = "127.9.0.2"

    def banned_for():
        t0 = time.time()
        deadline = t0 + 12
        while time.time() < deadline:
            if h.status("/index.html", src=src) == 200:
                return time.time() - t0
            time.sleep(0.2)
        return None

    assert h.statuses(probes(3), src=src) == [404, 404, 403]
    d1 = banned_for()
    # The score stays at the threshold (1 h half-life): the next probe bans again, twice as long.
    assert h.status("/probe/again1.php", src=src) == 403
    d2 = banned_for()
    assert h.status("/probe/again2.php", src=src) == 403
    d3 = banned_for()
    assert d1 is not None and 1.2 <= d1 <= 3.5, (d1, d2, d3)
    assert d2 is not None and 3.2 <= d2 <= 5.5, (d1, d2, d3)
    assert d3 is not None and 3.2 <= d3 <= 5.5, (d1, d2, d3)


# --- slow scans and decay ------------------------------------------------------------------------

def test_slow_scan_caught_and_stopped_scanner_decays(httpd, mpm):
    """Half-life 20 s, ban at 4. A probe every 3 s approaches ~10 and is caught (at the 5th or 6th
    probe, ~15 s); a client that sent 3 probes and then paused 25 s has decayed to ~1.3 and may send
    2 more without being refused (without decay the first of them would be refused)."""
    h = httpd(mpm=mpm, rules=RULES,
              wsguard="WSGuardThresholds off 4\nWSGuardScoreHalfLife 20s\nWSGuardAllow none")
    h.start()

    def steady():
        out = []
        for i in range(10):                          # bounded: 10 probes, <= 30 s
            out.append(h.status("/probe/slow%d.php" % i, src="127.9.0.2"))
            if out[-1] == 403:
                return out
            time.sleep(3)
        return out

    def pauser():
        first = h.statuses(probes(3, "z"), src="127.9.0.3")
        time.sleep(25)
        second = h.statuses(probes(2, "y"), src="127.9.0.3")
        return first, second

    slow, (first, second) = run_parallel([steady, pauser], timeout=60)
    assert slow[-1] == 403 and 5 <= len(slow) <= 6, "slow scan %s" % slow
    assert all(s == 404 for s in slow[:-1]), slow
    assert first == [404, 404, 404], first
    assert second == [404, 404], "score did not decay: %s" % second


# --- outcome: alerts and misses ------------------------------------------------------------------

def test_probe_answered_2xx_raises_alert(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 10\nWSGuardAllow none",
              files={"index.html": "hi\n", "probe/shell.php": "<?php system($_GET['c']); ?>\n"})
    h.expect_log(r"possible web shell present")
    h.start()
    r = h.get("/probe/shell.php", src="127.9.0.2")
    assert r.status == 200
    lines = h.wait_error_line(r"possible web shell present")
    assert len(lines) == 1, lines
    assert "/probe/shell.php" in lines[0], lines
    assert re.search(r"\[wsguard:(alert|emerg|crit)\]", lines[0]), lines   # highest levels only
    evs = h.wait_events(lambda e: e.get("event") == "alert")
    assert len(evs) == 1 and evs[0].get("client") == "127.9.0.2" and evs[0].get("status") == 200, evs
    # A 404 probe is no alert.
    assert h.status("/probe/absent.php", src="127.9.0.2") == 404
    time.sleep(0.3)
    assert len(h.error_lines(r"possible web shell present")) == 1


def test_404_misses_on_script_names_score(httpd, mpm):
    """No rule matches /random-name-N.php: 404s on script extensions score WSGuardMissScore each;
    404s on other extensions and 200s on scripts do not."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 6\nWSGuardAllow none")
    h.start()
    # Not scripts: never scored.
    assert h.statuses(["/random-%d.html" % i for i in range(12)], src="127.9.0.3") == [404] * 12
    assert h.statuses(["/blog/index.php"] * 8, src="127.9.0.3") == [200] * 8
    assert h.status("/index.html", src="127.9.0.3") == 200
    # Unknown script names (issue 13): the first five of a client count up to half the first
    # threshold (3 of 6: 1, 1, 1, 0, 0); from the sixth, at a scan's pace, each counts in full
    # (4, 5, 6: the ban), and the request after the one that reached 6 is refused, because a
    # miss is only known once the 404 is (logging phase).
    got = h.statuses(["/random-name-%d.php" % i for i in range(11)], src="127.9.0.2")
    assert got[:8] == [404] * 8 and got[8:] == [403] * 3, got
    evs = h.events(client="127.9.0.2")
    assert sum(1 for e in evs if e.get("event") in ("miss", "ban")) == 8, [e.get("event") for e in evs]
    # POSTs to missing scripts score (double: password guessing): 2, 1, 0, 0, 0, then 2, 2.
    got = [h.status("/random-post-%d.asp" % i, src="127.9.0.4", method="POST", body="pass=admin&watching=submit")
           for i in range(9)]
    assert got[:7] == [404] * 7 and got[7:] == [403] * 2, got


def test_miss_score_configurable(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 6\nWSGuardMissScore 2\nWSGuardAllow none")
    h.start()
    # 2, 1 (held at half of 6), 0, 0, 0, then at a scan's pace 2, 2: the ban.
    got = h.statuses(["/unknown-%d.jsp" % i for i in range(9)], src="127.9.0.2")
    assert got == [404] * 7 + [403] * 2, got
    # 0.5 each is never held (2.5 after five): the 12th reaches 6.
    h2 = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 6\nWSGuardMissScore 0.5\nWSGuardAllow none")
    h2.start()
    got = h2.statuses(["/unknown-%d.jsp" % i for i in range(20)], src="127.9.0.2")
    assert got == [404] * 12 + [403] * 8, got


# --- prefixes ------------------------------------------------------------------------------------

def test_prefix_ban(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 5\nWSGuardPrefixBan 6\nWSGuardAllow none")
    h.start()
    members = ["127.4.0.%d" % i for i in (2, 3, 4)]
    got = [h.statuses(probes(2, "m%d" % k), src=src) for k, src in enumerate(members)]
    # Each address stays under its own threshold (2 < 5); together they reach 6 at the last probe.
    assert got[0] == [404, 404] and got[1] == [404, 404] and got[2][0] == 404, got
    assert got[2][1] in (403, 404), got
    # A fresh address in the /24 is refused even for a clean request; another /24 is not.
    assert h.status("/index.html", src="127.4.0.77") == 403
    assert h.status("/index.html", src="127.4.0.2") == 403
    assert h.status("/index.html", src="127.5.0.2") == 200
    # A single address reaching the prefix score alone does not ban its neighbours.
    assert h.statuses(probes(5, "solo"), src="127.6.0.2") == [404] * 4 + [403]
    assert h.status("/index.html", src="127.6.0.3") == 200


def test_prefix_ban_off(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 5\nWSGuardPrefixBan off\nWSGuardAllow none")
    h.start()
    for k in range(6):
        assert h.statuses(probes(3, "m%d" % k), src="127.4.0.%d" % (k + 2)) == [404] * 3
    assert h.status("/index.html", src="127.4.0.99") == 200


# --- persistence ---------------------------------------------------------------------------------

def test_bans_survive_graceful_and_restart(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES,
              wsguard="WSGuardThresholds 3 5\nWSGuardPrefixBan 6\nWSGuardAllow none")
    h.start()
    assert h.statuses(probes(5), src="127.9.0.2") == [404, 404, 429, 429, 403]      # address ban
    assert [r.status for r in [h.get(p, src="127.9.1.2") for p in probes(2)]] == [404, 404]
    r = h.get("/probe/x.php", src="127.9.1.2")                                       # rate-limited
    assert r.status == 429
    for src in ("127.4.0.2", "127.4.0.3", "127.4.0.4"):                              # prefix ban
        h.statuses(probes(2, "pb"), src=src)
    assert h.status("/index.html", src="127.4.0.50") == 403

    def check(probe_status):
        assert h.status("/index.html", src="127.9.0.2") == 403
        # The rate-limited client: its page is served, its probe refused (and scored: 3 + 1 is
        # still the tier, 3 + 1 + 1 the ban).
        assert h.status("/index.html", src="127.9.1.2") == 200
        r = h.get("/probe/y.php", src="127.9.1.2")
        assert r.status == probe_status, r
        assert probe_status == 403 or r.headers.get("retry-after"), r
        assert h.status("/index.html", src="127.4.0.50") == 403
        assert h.status("/index.html", src="127.9.2.2") == 200

    h.graceful()
    check(429)
    h.restart()
    check(403)


# --- failing open --------------------------------------------------------------------------------

MAP_FULL = r"AH19450|is full"


def test_full_map_keeps_serving_and_logs_once(httpd, mpm):
    """The smallest map (1M holds a couple of thousand records), filled by ever more scanners, each in
    its own /24 (two records each): once full, new clients are served untracked (fail open), the
    tracked ones stay banned, nothing gets a 5xx, and the full map is logged once per process at
    most, not per request."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 1\nWSGuardMapSize 1M\nWSGuardAllow none")
    h.expect_log(MAP_FULL, r"AH19456")        # evicting (prefix records) before it is full of bans
    h.start()
    results = {}
    deadline = time.time() + 90
    batch, k, full_at = 400, 0, None

    def scanner(srcs):
        # Tracked: the probe itself reaches the threshold (403), and so is the next request.
        # Untracked (map full): 404 for the probe, 200 for the page.
        return [(s, [h.status("/probe/f.php", src=s), h.status("/index.html", src=s)]) for s in srcs]

    while time.time() < deadline and k < 6000:
        srcs = ["127.%d.%d.2" % (10 + n // 250, n % 250) for n in range(k, k + batch)]
        k += batch
        for part in run_parallel([lambda c=srcs[i::8]: scanner(c) for i in range(8)], timeout=120):
            results.update(part)
        untracked = [s for s in srcs if results[s] == [404, 200]]
        if untracked and full_at is None:
            full_at = k
        elif full_at is not None:
            break                                    # one more batch after the map got full
    assert full_at is not None, "the map never got full after %d scanners" % k
    statuses = [x for v in results.values() for x in v]
    assert all(s in (200, 403, 404) for s in statuses), sorted(set(statuses))
    first = "127.10.0.2"
    assert results[first] == [403, 403], results[first]
    assert h.status("/index.html", src=first) == 403           # tracked before: still banned
    full = h.wait_error_line(MAP_FULL)
    nprocs = 16 if mpm == "prefork" else 4
    assert 1 <= len(full) <= nprocs, "map-full logged %d times (at most once per process):\n%s" % (
        len(full), "\n".join(full[:5]))
    # Clean traffic still served, and a graceful restart keeps serving too.
    assert h.status("/index.html", src="127.3.0.2") == 200
    h.graceful()
    assert h.status("/index.html", src="127.3.0.3") == 200
    assert h.status("/index.html", src=first) == 403


def test_state_dir_unusable_at_graceful_keeps_serving(httpd, mpm):
    """The state directory replaced by a plain file mid-run (disk trouble, an operator's mistake):
    a graceful restart must not take the site down; clients are served untracked, it says so once,
    and fixing the directory plus another graceful heals."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3\nWSGuardAllow none")
    h.expect_log(r"AH19405|AH19407|AH19451|state directory .* unusable|cannot open state")
    h.start()
    assert h.statuses(probes(3), src="127.9.0.2") == [404, 404, 403]
    moved = h.state_dir + ".moved"
    os.rename(h.state_dir, moved)
    with open(h.state_dir, "w") as f:
        f.write("not a directory\n")
    h.graceful()
    assert h.status("/index.html", src="127.9.0.3") == 200
    assert h.statuses(probes(5, "u"), src="127.9.0.4") == [404] * 5          # untracked, served
    assert h.wait_error_line(r"AH19405|unusable|cannot open state"), h.read_error_log()[-2000:]
    os.unlink(h.state_dir)
    os.rename(moved, h.state_dir)
    h.graceful()
    assert h.status("/index.html", src="127.9.0.2") == 403                   # the old ban is back
    assert h.statuses(probes(3, "v"), src="127.9.0.5") == [404, 404, 403]


def test_state_dir_unwritable_midrun_keeps_serving(httpd, mpm):
    """Files of the environment made read-only and root-owned while running, then a graceful: the
    children (www-data) cannot write; requests are still served."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3\nWSGuardAllow none")
    h.expect_log(r"AH1940[57]|AH19451|unusable|cannot open state|failed")
    h.start()
    assert h.statuses(probes(3), src="127.9.0.2") == [404, 404, 403]
    for f in glob.glob(os.path.join(h.state_dir, "*")):
        os.chown(f, 0, 0)
        os.chmod(f, 0o400)
    os.chown(h.state_dir, 0, 0)
    os.chmod(h.state_dir, 0o500)
    os.system("chattr +i %s/* >/dev/null 2>&1" % h.state_dir)   # where supported, even root cannot fix it
    try:
        h.graceful()
        got = [h.status("/index.html", src="127.9.0.%d" % i) for i in range(10, 20)]
        got += h.statuses(probes(6, "w"), src="127.9.0.30")
        assert all(s in (200, 403, 404) for s in got), got
        assert got[:10] == [200] * 10, got
    finally:
        os.system("chattr -i %s/* >/dev/null 2>&1" % h.state_dir)
    # Fixed by the admin (immutable bit gone, owner and modes back: the module never chowns what
    # it did not create, see the README's security model): a graceful heals.
    import pwd
    www = pwd.getpwnam("www-data")
    os.chown(h.state_dir, www.pw_uid, www.pw_gid)
    os.chmod(h.state_dir, 0o700)
    for f in glob.glob(os.path.join(h.state_dir, "*")):
        os.chown(f, www.pw_uid, www.pw_gid)
        os.chmod(f, 0o600)
    h.graceful()
    assert h.status("/index.html", src="127.9.0.2") == 403                   # the old ban is back
    assert h.statuses(probes(3, "h"), src="127.9.0.50") == [404, 404, 403]


def test_corrupt_environment_replaced_midrun(httpd, mpm):
    """data.mdb replaced by garbage while running: the running children keep their mapping; the next
    graceful moves the corrupt file aside, starts fresh and keeps serving."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3\nWSGuardAllow none")
    h.expect_log(r"corrupt|AH19405|AH19407|AH19451")
    h.start()
    assert h.statuses(probes(3), src="127.9.0.2") == [404, 404, 403]
    data = os.path.join(h.state_dir, "data.mdb")
    st = os.stat(data)
    tmp = data + ".tmp"
    with open(tmp, "wb") as f:
        f.write(os.urandom(65536))
    os.chown(tmp, st.st_uid, st.st_gid)
    os.rename(tmp, data)
    got = [h.status("/index.html", src="127.9.0.%d" % i) for i in range(10, 16)]
    assert got == [200] * 6, got
    h.graceful()
    got = [h.status("/index.html", src="127.9.0.%d" % i) for i in range(20, 26)]
    assert got == [200] * 6, got
    assert h.statuses(probes(3, "c"), src="127.9.0.40") == [404, 404, 403]   # tracking again
    assert glob.glob(data + ".corrupt-*") or glob.glob(os.path.join(h.state_dir, "*corrupt*")), \
        os.listdir(h.state_dir)


def test_corrupt_environment_at_start(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3\nWSGuardAllow none")
    h.expect_log(r"corrupt|AH19405")
    os.makedirs(h.state_dir, mode=0o750)
    with open(os.path.join(h.state_dir, "data.mdb"), "wb") as f:
        f.write(b"\xde\xad\xbe\xef" * 4096)
    # Damaged as httpd's children left it: owned by them (a root-owned file there is refused).
    import pwd
    www = pwd.getpwnam("www-data")
    for p in (h.state_dir, os.path.join(h.state_dir, "data.mdb")):
        os.chown(p, www.pw_uid, www.pw_gid)
    os.chmod(os.path.join(h.state_dir, "data.mdb"), 0o600)
    h.start()
    assert h.status("/index.html", src="127.9.0.3") == 200
    assert h.statuses(probes(3), src="127.9.0.2") == [404, 404, 403]


def test_no_5xx_and_no_crash_under_hostile_targets(httpd, mpm):
    """Evasion tricks and junk request-targets: always an HTTP answer below 500."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 1000\nWSGuardAllow none")
    h.expect_log(r"AH00127: Cannot map GET /a{100}")          # httpd's own: file name too long
    h.start()
    targets = ["/%2577so.php", "/probe/..%2f..%2fetc", "/probe//x.php", "/PROBE/X.PHP", "/probe/x.php%00.jpg",
               "/probe/x.php;jsessionid=1", "/probe\\x.php", "/probe/x.php.", "/probe/x.php%20",
               "/%C0%AFprobe/x.php", "/%ff%fe.php", "/" + "a" * 6000 + ".php", "/probe/" + "%25" * 500,
               "/?" + "&".join("a%d=b" % i for i in range(500)), "*", "/probe/x.php?pass=1&cmd=id"]
    for i, t in enumerate(targets):
        try:
            r = h.get(t, src="127.9.%d.2" % i)
        except ClientError as e:
            pytest.fail("no HTTP answer for %r: %s" % (t[:80], e))
        assert r.status < 500, (t[:80], r.status)
    assert h.status("/index.html", src="127.9.0.2") == 200


# --- clients behind a proxy, and what a refusal costs ----------------------------------------------

def test_clients_behind_proxy_via_remoteip(httpd, mpm):
    """Behind a reverse proxy every request comes from the proxy's address; mod_remoteip sets the
    client from X-Forwarded-For and the module must key on that (r->useragent_ip)."""
    proxy = "127.9.9.1"
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 4\nWSGuardAllow none",
              extra="LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so\n"
                    "RemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy %s\n" % proxy)
    h.start()

    def via(path, client):
        return h.status(path, src=proxy, headers={"X-Forwarded-For": client})

    assert [via(p, "203.0.113.7") for p in probes(5)] == [404, 404, 404, 403, 403]
    assert via("/index.html", "203.0.113.7") == 403
    assert via("/index.html", "203.0.113.8") == 200            # another client of the same proxy
    assert h.status("/index.html", src=proxy) == 200           # the proxy itself
    # IPv6 clients behind the proxy: tracked by address too, neighbours in other /64s unaffected.
    assert [via(p, "2001:db8:1:2::7") for p in probes(4, "v6")] == [404, 404, 404, 403]
    assert via("/index.html", "2001:db8:1:3::7") == 200
    rc, out, err = h.ctl("list")
    assert rc == 0 and "203.0.113.7" in out and "2001:db8:1:2::7" in out, out + err
    evs = h.events(event="ban")
    assert {e.get("client") for e in evs} == {"203.0.113.7", "2001:db8:1:2::7"}, evs


def _hits(h, addr):
    rc, out, err = h.ctl("show", addr)
    assert rc == 0, err
    m = re.search(r"(?m)^hits\s+(\d+)", out)
    assert m, out
    return int(m.group(1))


def test_refused_requests_write_nothing(httpd, mpm):
    """A banned client's flood is refused with one read: its record (hits) and the event log do not
    grow, whatever it sends."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3\nWSGuardAllow none")
    h.start()
    assert h.statuses(probes(3), src="127.9.0.2") == [404, 404, 403]
    before_hits = _hits(h, "127.9.0.2")
    before_events = len(h.events())
    flood = probes(20, "flood") + ["/index.html"] * 10 + ["/random-%d.php" % i for i in range(10)]
    assert h.statuses(flood, src="127.9.0.2") == [403] * len(flood)
    assert _hits(h, "127.9.0.2") == before_hits
    assert len(h.events()) == before_events


def test_event_log_lines_whole_under_concurrency(httpd, mpm):
    """16 clients probing at once: every event line is one whole JSON object (h.events() fails on a
    torn line) and there is exactly one event per scored request."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 1000\nWSGuardAllow none")
    h.start()
    srcs = ["127.7.%d.2" % k for k in range(16)]
    long_ua = {"User-Agent": "x" * 3000}
    run_parallel([lambda s=s: h.statuses(probes(15, "c"), src=s, headers=long_ua) for s in srcs])
    deadline = time.time() + 5
    while time.time() < deadline and len(h.events()) < 16 * 15:
        time.sleep(0.1)
    evs = h.events()
    assert len(evs) == 16 * 15, len(evs)
    for s in srcs:
        assert sum(1 for e in evs if e.get("client") == s) == 15, s


def test_ipv6_client(httpd, mpm):
    """An IPv6 client (::1 is the only local v6 source): allowlisted by default, tracked and banned
    as an IPv6 address once the allowlist is cleared; the IPv4 side is unaffected."""
    h = httpd(mpm=mpm, rules=RULES, ipv6=True, wsguard="WSGuardThresholds off 3")
    h.start()
    assert h.statuses(probes(5), src="::1") == [404] * 5            # default allowlist has ::1
    h.stop()
    h.write_config(wsguard="WSGuardThresholds off 3\nWSGuardAllow none")
    h.start()
    assert h.statuses(probes(4, "six"), src="::1") == [404, 404, 403, 403]
    assert h.status("/index.html", src="127.9.0.2") == 200
    rc, out, err = h.ctl("list", "--banned")
    assert rc == 0 and re.search(r"(?m)^::1\s", out), out + err


# --- status handler --------------------------------------------------------------------------------

def test_status_handler(httpd, mpm):
    """SetHandler wsguard-status behind an ordinary Require: the banned scanner and the 2xx-probe
    alert show on the page and in ?json; other clients are refused by Require."""
    import json
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 3",
              files={"index.html": "hi\n", "probe/shell.php": "<?php ?>\n"},
              extra="<Location /wsguard-status>\n  SetHandler wsguard-status\n  Require ip 127.0.0.1\n</Location>")
    h.expect_log(r"possible web shell present", r"AH01630: client denied .*/wsguard-status")
    h.start()
    assert h.statuses(probes(3), src="127.9.0.2") == [404, 404, 403]
    assert h.status("/probe/shell.php", src="127.9.0.3") == 200
    r = h.get("/wsguard-status", src="127.0.0.1")
    assert r.status == 200 and b"127.9.0.2" in r.body, (r, r.body[:500])
    r = h.get("/wsguard-status?json", src="127.0.0.1")
    assert r.status == 200, r
    doc = json.loads(r.body)
    bans = {row["address"]: row for row in doc["bans"]}
    alerts = {row["address"]: row for row in doc["alerts"]}
    assert bans["127.9.0.2"]["ban_until"], doc
    assert alerts["127.9.0.3"]["shell_hit"] is True, doc
    assert doc["store"]["shell_alerts"] >= 1 and doc["store"]["banned"] >= 1, doc
    assert h.status("/wsguard-status", src="127.9.0.4") == 403
