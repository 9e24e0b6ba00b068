"""The status page (SetHandler wsguard-status) as an operator sees it, in a real browser: headless
Chromium renders it after a scan with a ban, a rate-limited client and a 2xx alert; the test saves
a screenshot (under $WSG_ARTIFACTS if set, else the test's tmp_path) and asserts on the rendered
DOM. Also ?json (the same content), ?refresh, ?limit, and that the page is valid HTML (html5lib's
strict parser) working without JavaScript (the page has no script at all)."""
import html.parser
import json
import re
import os
import shutil
import subprocess

import pytest

RULES = ('id=9001 score=1 tag=php-shell msg="Generic PHP probe" path.prefix=/probe/\n'
         'id=9002 score=3 tag=shell-family msg="Known web-shell family name" basename=wso.php\n')
STATUS = ("<Location /wsguard-status>\n  SetHandler wsguard-status\n"
          "  Require ip 127.0.0.1\n</Location>")
BANNED, LIMITED, ALERTED = "127.9.1.2", "127.9.2.5", "127.9.3.3"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args, timeout=90):
    if not CHROMIUM:
        pytest.fail("chromium is missing: scripts/deps.sh installs it")
    home = os.environ.get("WSG_TMP", "/tmp")
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions",
           "--user-data-dir=%s" % os.path.join(home, "wsg-chromium-%d" % os.getpid())] + list(args)
    # not the sanitizers make integration-asan preloads for httpd: the browser is not under test
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    return r.stdout.decode(), r.stderr.decode(errors="replace")


class Dom(html.parser.HTMLParser):
    """The rendered DOM as a list of elements with their attributes and text (enough to query
    by id, class and data-client)."""

    def __init__(self):
        super().__init__()
        self.stack, self.elems = [], []

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elems.append(el)
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self.stack.append(el)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data

    def by_id(self, i):
        found = [e for e in self.elems if e["attrs"].get("id") == i]
        assert len(found) == 1, (i, found)
        return found[0]

    def by_class(self, tag, cls):
        return [e for e in self.elems if e["tag"] == tag
                and cls in (e["attrs"].get("class") or "").split()]


def artifacts_dir(tmp_path):
    d = os.environ.get("WSG_ARTIFACTS")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    return str(tmp_path)


def scan(h):
    # banned: two known shell names (3 + 3 >= 6), then refused
    assert h.statuses(["/x/wso.php", "/y/wso.php", "/z/wso.php"], src=BANNED) == [404, 403, 403]
    # rate-limited: four probes (1 + 1 + 1 + 1 >= 4), the fourth is a 429
    assert h.statuses(["/probe/a.php", "/probe/b.php", "/probe/c.php", "/probe/d.php"],
                      src=LIMITED) == [404, 404, 404, 429]
    # alerted: a probe of a file that is there, answered 200
    assert h.status("/probe/shell.php", src=ALERTED) == 200


def test_status_page_in_chromium(httpd, tmp_path):
    h = httpd(mpm="event", rules=RULES, wsguard="WSGuardThresholds 4 6",
              files={"index.html": "hi\n", "probe/shell.php": "<?php ?>\n"}, extra=STATUS)
    h.expect_log(r"possible web shell present", r"client banned")
    h.start()
    scan(h)
    url = "http://127.0.0.1:%d/wsguard-status" % h.port
    doc = json.loads(h.get("/wsguard-status?json", src="127.0.0.1").body)
    shot = os.path.join(artifacts_dir(tmp_path), "status-page.png")
    _, err = chromium("--window-size=1500,1100", "--screenshot=%s" % shot, url)
    assert os.path.exists(shot) and os.path.getsize(shot) > 10000, (shot, err[-3000:])
    dom = Dom()
    dom.feed(chromium("--dump-dom", url)[0])

    # header: version, mode, rules, totals as the counters say
    assert dom.by_id("mode")["text"] == "On"
    assert dom.by_id("version")["text"] == doc["version"] and doc["version"]
    assert dom.by_id("rules")["text"] == "2"
    t = doc["totals"]
    assert t["probes"] == 7 and t["bans"] == 1 and t["shell_alerts"] == 1, t
    assert t["refused_by_reason"] == {"ban": 2, "ratelimit": 1, "prefix": 0, "crowdsec": 0}, t
    for k in ("inspected", "probes", "refused", "bans"):
        assert dom.by_id("t-" + k)["text"] == str(t[k]), (k, t)
    assert dom.by_id("t-alerts")["text"] == "1"
    assert "records" in dom.by_id("store")["text"] and "capacity" in dom.by_id("store")["text"]

    # one row per client, each in one section; the /24s are in the clients' rows, not their own
    rows = dom.by_class("tr", "client")
    clients = [r["attrs"]["data-client"] for r in rows]
    assert sorted(clients) == sorted([BANNED, LIMITED, ALERTED]), clients
    row = {r["attrs"]["data-client"]: r for r in rows}

    # the alert first, with the path that answered 2xx
    alerts = dom.by_id("alerts")["text"]
    assert ALERTED in alerts and "/probe/shell.php" in alerts, alerts
    assert [e["text"] for e in dom.by_class("td", "path")] == ["/probe/shell.php"]
    assert clients.index(ALERTED) == 0
    assert "a web shell may be present" in dom.by_id("alert-banner")["text"]

    # the ban with its reason in words, its origin, the time left and the first paths
    ban = row[BANNED]["text"]
    assert "Known web-shell family name" in ban and "shell-family" in ban, ban
    assert "9002" not in ban, ban
    assert "banned" in ban and "left" in ban and "local" in ban, ban
    assert "/x/wso.php" in ban and "/y/wso.php" in ban, ban
    assert BANNED in dom.by_id("bans")["text"]
    assert "127.9.1.0/24" in ban, ban

    # the rate-limited client, in words
    lim = row[LIMITED]["text"]
    assert "rate-limited" in lim and "Generic PHP probe" in lim, lim
    assert LIMITED in dom.by_id("scoring")["text"]

    # relative times, not 1970
    assert "1970" not in dom.by_id("bans")["text"]
    # every time on the page is relative, with the exact one machine-readable; "just now" is
    # as relative as "3 s ago" (how long Chromium takes decides which), and the ban's expiry
    # lies ahead
    rel = re.compile(r"^(just now|\d+ (s|min|h|d) ago|in \d+ (s|min|h|d))$")
    times = [e for e in dom.elems if e["tag"] == "time"]
    assert times and all(rel.match(e["text"]) and e["attrs"].get("datetime", "").startswith("20")
                         for e in times), times
    assert any(e["text"].startswith("in ") for e in times), times

    # ?json has the same rows
    assert [r["address"] for r in doc["alerts"]] == [ALERTED]
    assert doc["alerts"][0]["alert_path"] == "/probe/shell.php"
    assert [r["address"] for r in doc["bans"]] == [BANNED]
    assert doc["bans"][0]["reasons"][0]["msg"] == "Known web-shell family name"
    assert doc["bans"][0]["origin"] == "local" and doc["bans"][0]["ban_remaining_seconds"] > 0
    assert [r["address"] for r in doc["scoring"]] == [LIMITED]
    assert doc["scoring"][0]["ratelimited"] is True
    assert doc["mode"] == "On"


def test_status_page_valid_html_refresh_limit(httpd, wsguardctl):
    html5lib = pytest.importorskip("html5lib")
    h = httpd(mpm="prefork", rules=RULES, wsguard="WSGuardThresholds 4 6",
              files={"index.html": "hi\n", "probe/shell.php": "<?php ?>\n"}, extra=STATUS)
    h.expect_log(r"possible web shell present", r"client banned")
    h.start()
    scan(h)
    # bans of every origin: manual, imported (crowdsec is a flag the sync sets, same code path)
    for i in range(8):
        rc, out, err = h.ctl("ban", "127.8.%d.1" % i, "--for", "1h")
        assert rc == 0, out + err
    r = h.get("/wsguard-status?refresh=15&limit=3", src="127.0.0.1")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    page = r.body.decode()
    html5lib.HTMLParser(strict=True).parse(page)       # raises on any parse error
    assert '<meta http-equiv="refresh" content="15">' in page
    assert "<script" not in page
    dom = Dom()
    dom.feed(page)
    assert len([e for e in dom.by_class("tr", "client") if "127.8." in e["attrs"]["data-client"]]) <= 3
    more = " ".join(e["text"] for e in dom.by_class("p", "more"))
    assert "more not shown" in more and "limit 3" in more, more
    assert "manual" in dom.by_id("bans")["text"]
    doc = json.loads(h.get("/wsguard-status?json&limit=3", src="127.0.0.1").body)
    assert len(doc["bans"]) == 3 and doc["not_shown"]["bans"] == 9 - 3, doc["not_shown"]
    assert {b["origin"] for b in doc["bans"]} <= {"manual", "local"}
    # the whole list when asked
    doc = json.loads(h.get("/wsguard-status?json&limit=0", src="127.0.0.1").body)
    assert len(doc["bans"]) == 9 and doc["not_shown"]["bans"] == 0


def test_status_page_shows_range_bans(httpd):
    """A range ban (one record for every address inside) has a row among the bans, with its
    origin and remaining time, in the page and its JSON; an expired one has none."""
    html5lib = pytest.importorskip("html5lib")
    h = httpd(mpm="event", rules=RULES, extra=STATUS, wsguard="WSGuardAllow none")
    h.start()
    rc, out, err = h.ctl("ban", "127.44.0.0/16", "--for", "2h", "--reason", "a /16")
    assert rc == 0, out + err
    assert h.ctl("ban", "2001:db8:44::/48", "--for", "1h")[0] == 0
    doc = json.loads(h.get("/wsguard-status?json", src="127.0.0.1").body)
    rows = {b["address"]: b for b in doc["bans"]}
    r = rows["127.44.0.0/16"]
    assert r["kind"] == "range" and r["banned"] and r["origin"] == "manual", r
    assert 7100 <= r["ban_remaining_seconds"] <= 7200 and r["source"] == "a /16", r
    assert rows["2001:db8:44::/48"]["kind"] == "range"
    assert doc["store"]["range_bans"] == 2, doc["store"]
    page = h.get("/wsguard-status", src="127.0.0.1").body.decode()
    html5lib.HTMLParser(strict=True).parse(page)
    dom = Dom()
    dom.feed(page)
    bans = dom.by_id("bans")["text"]
    assert "127.44.0.0/16" in bans and "(range)" in bans and "manual" in bans, bans
    assert "2 range bans" in dom.by_id("store")["text"]
    assert h.ctl("unban", "127.44.0.0/16")[0] == 0
    doc = json.loads(h.get("/wsguard-status?json", src="127.0.0.1").body)
    assert "127.44.0.0/16" not in {b["address"] for b in doc["bans"]}
    assert doc["store"]["range_bans"] == 1
