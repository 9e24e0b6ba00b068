"""Issue 13, score evidence and refuse in proportion, against a real httpd (both MPMs):
  * a repeated miss of one path adds nothing after the first (a monitor polling a removed script
    for ever is never refused), while breadth (many distinct missing scripts, at a scan's pace)
    still ends in a ban;
  * a client in the rate-limit tier is served its ordinary pages and assets (and its repeat of a
    miss), and only its probes get 429;
  * a 429'd probe counts as its 404 would have: a scanner that goes on probing while rate-limited
    climbs to the ban, whether it probes new paths or retries one, and is then refused everything.
Default thresholds (429 from 5, ban at 10), miss score 1."""
import re
import time

RULES = 'id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'
FILES = {"index.html": "home\n", "docs/report.pdf": "%PDF-1.4\n", "feed.xml": "<rss/>\n",
         "css/site.css": "body{}\n", "blog/index.php": "<?php ?>\n"}
CONF = "WSGuardAllow none"


def show(h, addr):
    rc, out, err = h.ctl("show", addr)
    assert rc == 0, err
    hits = int(re.search(r"(?m)^hits\s+(\d+)", out).group(1))
    score = float(re.search(r"(?m)^score now\s+([0-9.]+)", out).group(1))
    return hits, score, out


def test_repeated_miss_scores_once(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, files=FILES, wsguard=CONF)
    h.start()
    mon = "127.9.0.2"
    # An uptime monitor polling a removed script (and its query variants): 40 polls, all 404.
    got = [h.status("/status.php" if i % 2 else "/status.php?key=%d" % i, src=mon, method="HEAD" if i % 3 else "GET")
           for i in range(40)]
    assert got == [404] * 40, got
    time.sleep(0.2)
    hits, score, out = show(h, mon)
    assert hits == 1 and abs(score - 1) < 0.05, out
    assert len(h.events(client=mon)) == 1
    # Its pages are served, of course.
    assert h.status("/index.html", src=mon) == 200
    # Breadth is what scores: distinct missing scripts, back to back, from another client.
    scan = [h.status("/x%d.php" % i, src="127.9.1.2") for i in range(20)]
    assert 403 in scan, scan
    first = next(i for i, st in enumerate(scan) if st != 404)
    assert scan[:first] == [404] * first and set(scan[first:]) <= {403, 429}, scan
    assert scan[scan.index(403):] == [403] * (20 - scan.index(403)), scan


def test_ratelimited_client_served_its_pages_not_its_probes(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, files=FILES, wsguard=CONF)
    h.start()
    src = "127.9.0.3"
    assert h.status("/old-page.php", src=src) == 404            # a miss, remembered
    got = h.statuses(["/probe/a%d" % i for i in range(4)], src=src)
    assert got == [404, 404, 404, 429], got      # 1 + 4 = 5: the tier, from the crossing probe
    # Ordinary pages and assets: served; a missing page that is not a script: its 404.
    for path, want in (("/index.html", 200), ("/docs/report.pdf", 200), ("/feed.xml", 200),
                       ("/css/site.css", 200), ("/blog/index.php", 200), ("/", 200),
                       ("/gone.html", 404), ("/old-page.php", 404)):
        r = h.get(path, src=src)
        assert r.status == want, (path, r)
        assert "retry-after" not in r.headers, (path, r.headers)
    time.sleep(0.2)
    hits, score, out = show(h, src)
    assert hits == 5 and abs(score - 5) < 0.1, out               # none of them scored
    # Its probes are refused, with the wait; a new missing script name is a probe too.
    r = h.get("/probe/b", src=src)
    assert r.status == 429 and int(r.headers.get("retry-after", "0")) >= 1, r
    assert h.status("/new-name.php", src=src) == 429
    # Its neighbour is untouched.
    assert h.status("/probe/c", src="127.9.0.4") == 404


def test_ratelimited_probes_climb_to_the_ban(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, files=FILES, wsguard=CONF)
    h.start()
    # New probes while rate-limited: 5 reaches the tier, each 429 adds 1, the 10th is the ban.
    src = "127.9.0.5"
    got = h.statuses(["/probe/n%d.php" % i for i in range(12)], src=src)
    assert got == [404] * 4 + [429] * 5 + [403] * 3, got
    # Retrying one signature path while rate-limited climbs the same way.
    src2 = "127.9.1.5"
    got = h.statuses(["/probe/wso.php"] * 12, src=src2)
    assert got == [404] * 4 + [429] * 5 + [403] * 3, got
    # Missing script names with no rule, at a scan's pace, once in the tier: each 429 counts its
    # miss, up to the ban.
    src3 = "127.9.2.5"
    assert h.statuses(["/probe/m%d" % i for i in range(5)], src=src3)[-1] == 429
    got = h.statuses(["/n%d.aspx" % i for i in range(6)], src=src3)
    assert got == [429] * 4 + [403] * 2, got
    # Banned: refused everything, its home page too, and the ban is recorded (and so exported).
    for s in (src, src2, src3):
        assert h.status("/index.html", src=s) == 403
        rc, out, err = h.ctl("list", "--banned")
        assert rc == 0 and s in out, (s, out, err)
    assert len(h.events(client=src, event="ban")) == 1


def test_ratelimited_probes_behind_a_reverse_proxy_climb_to_the_ban(httpd, mpm):
    """In front of an IIS/Exchange/Java back end (mod_proxy) the server cannot know whether a
    script exists before answering: a scanner held in the 429 tier there still has each refused
    probe counted as its 404 would have been, so it is banned rather than held for ever."""
    import http.server
    import threading

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        mods = "/usr/lib/apache2/modules"
        h = httpd(mpm=mpm, rules=RULES, files=FILES, wsguard=CONF,
                  extra="LoadModule proxy_module %s/mod_proxy.so\nLoadModule proxy_http_module %s/mod_proxy_http.so\n"
                        "ProxyPass /iis/ http://127.0.0.1:%d/\n" % (mods, mods, backend.server_address[1]))
        h.start()
        src = "127.9.3.5"
        # The back end answers 404 to a probe: scored in the log phase as any miss.
        assert h.status("/iis/owa/auth/first.aspx", src=src) == 404
        assert h.statuses(["/probe/m%d" % i for i in range(4)], src=src) == [404] * 3 + [429]
        got = h.statuses(["/iis/owa/auth/x%d.aspx" % i for i in range(7)], src=src)
        assert got == [429] * 4 + [403] * 3, got
        assert h.status("/index.html", src=src) == 403
    finally:
        backend.shutdown()
