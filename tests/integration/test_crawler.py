"""Issue 13, crawlers that say who they are: a client claiming to be a major search engine's crawler
is verified by forward-confirmed reverse DNS (FCrDNS) in the background before it can be banned.
The resolver is a tiny DNS server of the test's own (UDP on 127.0.0.1), answering PTR and A for the
127.x addresses the simulated clients bind:
  - a verified Googlebot revisiting 40 removed PHP pages is never refused (and, with the check Off,
    the same visit is refused: the test can fail);
  - a fake Googlebot (PTR to an unrelated domain, or a googlebot.com name that does not point back)
    doing the same is banned;
  - with the resolver down (nothing listening, or listening and never answering) the claim is
    scored as anyone's once the check has failed, well within the bound.
"""
import os
import re
import socket
import time

import pytest

import wsg_httpd
from wsg_dns import TinyDNS, ptr_name

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# Only misses on script names score here (the rules never match /old/): what a crawler meets.
RULES = 'id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'
REMOVED = ["/old/page%d.php" % i for i in range(40)]
# The harness turns the check Off (no test may ask the machine's resolver); these turn it On,
# with a resolver of their own.
CHECK = "WSGuardCrawlerCheck On\nWSGuardResolver 127.0.0.1:%d"


@pytest.fixture
def dns():
    made = []

    def make(**kw):
        d = TinyDNS(**kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def visit(h, src, paths, ua=GOOGLEBOT, pace=0.05):
    """The statuses of paths fetched one by one from src with the crawler's User-Agent."""
    out = []
    for p in paths:
        out.append(h.status(p, src=src, headers={"User-Agent": ua}))
        time.sleep(pace)
    return out


def show(h, ip):
    rc, out, err = h.ctl("show", ip)
    assert rc == 0, err
    return out


def crawler_line(h, ip):
    m = re.search(r"^crawler\s+(\S+)", show(h, ip), re.M)
    return m.group(1) if m else None


def test_verified_googlebot_never_refused(httpd, mpm, dns):
    ip = "127.50.0.2"
    host = "crawl-127-50-0-2.googlebot.com"
    d = dns(ptr={ptr_name(ip): [host]}, a={host: [ip]})
    files = dict(wsg_httpd.DEFAULT_FILES)
    files["probe/linked.php"] = "<?php ?>\n"
    h = httpd(mpm=mpm, rules=RULES, files=files,
              wsguard=CHECK % d.port)
    h.expect_log(r"AH19454: possible web shell present: GET /probe/linked\.php answered 200")
    h.start()
    got = visit(h, ip, REMOVED)
    assert got == [404] * len(REMOVED), got
    # the check was made, off the request path, and its verdict is in the state
    assert (ptr_name(ip), 12) in d.queries and (host, 1) in d.queries
    assert crawler_line(h, ip) == "verified"
    assert "CRAWLER-VERIFIED" in show(h, ip)
    rc, out, err = h.ctl("show", "--json", ip)
    assert rc == 0, err
    assert '"crawler": "verified"' in out and "CRAWLER-VERIFIED" in out, out
    # a second round: nothing is looked up again, nothing is refused, not even links to what a
    # rule matches (anyone can plant those on a page the crawler reads) ...
    n = len(d.queries)
    assert visit(h, ip, REMOVED[:10] + ["/probe/planted%d.php" % i for i in range(15)],
                 pace=0) == [404] * 25
    assert len(d.queries) == n
    # ... but a probe answered 2xx is still the alert
    assert h.status("/probe/linked.php", src=ip, headers={"User-Agent": GOOGLEBOT}) == 200
    assert "SHELL-HIT" in show(h, ip)


def test_control_check_off_refuses_the_same_visit(httpd, mpm, dns):
    """The same crawler with the check Off is refused: the test above can fail."""
    ip = "127.50.1.2"
    host = "crawl-127-50-1-2.googlebot.com"
    d = dns(ptr={ptr_name(ip): [host]}, a={host: [ip]})
    h = httpd(mpm=mpm, rules=RULES,
              wsguard="WSGuardResolver 127.0.0.1:%d\nWSGuardCrawlerCheck Off" % d.port)
    h.start()
    got = visit(h, ip, REMOVED, pace=0)
    assert 429 in got or 403 in got, got
    assert d.queries == []


@pytest.mark.parametrize("lie", ["ptr-elsewhere", "forward-mismatch"])
def test_fake_googlebot_banned(httpd, mpm, dns, lie):
    ip = "127.51.0.2"
    if lie == "ptr-elsewhere":
        d = dns(ptr={ptr_name(ip): ["host-127-51-0-2.scanner.example"]},
                a={"host-127-51-0-2.scanner.example": [ip]})
    else:
        # the reverse zone is the impostor's: it names Google, whose zone says otherwise
        host = "crawl-127-51-0-2.googlebot.com"
        d = dns(ptr={ptr_name(ip): [host]}, a={host: ["127.99.9.9"]})
    h = httpd(mpm=mpm, rules=RULES, wsguard=CHECK % d.port)
    h.start()
    got = visit(h, ip, REMOVED)
    assert 403 in got, got
    # banned, not only rate-limited, within the visit
    assert got.index(403) < 30, got
    assert crawler_line(h, ip) == "fake"
    assert "banned         until" in show(h, ip)


@pytest.mark.parametrize("down", ["nothing-listens", "never-answers"])
def test_resolver_down_scored_as_anyone(httpd, mpm, dns, down):
    ip = "127.52.0.2"
    if down == "never-answers":
        d = dns(mode="silent")
        port = d.port
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()               # nothing listens there now: ICMP port unreachable
    h = httpd(mpm=mpm, rules=RULES, wsguard=CHECK % port)
    h.expect_log(r"AH19572: crawler check of 127\.52\.0\.2 \(claims Googlebot\) could not be made")
    h.start()
    t0 = time.time()
    got = []
    # a slow scan: the hold lasts while the check is pending (two tries of 1.5 s at most), then
    # the misses count as anyone's
    while time.time() - t0 < 20 and 403 not in got:
        got += visit(h, ip, REMOVED[len(got) % 40:len(got) % 40 + 1], pace=0.1)
    assert 403 in got, got
    assert time.time() - t0 < 15, "banned only after %.1fs" % (time.time() - t0)
    assert crawler_line(h, ip) == "unverified"


@pytest.mark.parametrize("conf, says", [
    ("WSGuardResolver dns.example", "not a numeric IPv4 or IPv6 address"),
    ("WSGuardResolver 127.0.0.1:70000", "the port is not a number from 1 to 65535"),
    ("WSGuardResolver [::1", "missing ']'"),
    ("WSGuardCrawlerCheck maybe", "WSGuardCrawlerCheck"),
])
def test_configtest_names_the_problem(httpd, conf, says):
    h = httpd(rules=RULES, wsguard=conf)
    h.write_config()
    rc, out = h.configtest()
    assert rc != 0 and says in out, out


def test_configtest_accepts(httpd):
    h = httpd(rules=RULES, wsguard="WSGuardResolver [::1]:5353\nWSGuardResolver system\n"
                                   "WSGuardCrawlerCheck On")
    h.write_config()
    rc, out = h.configtest()
    assert rc == 0, out


def test_default_is_on_with_the_system_resolver(httpd):
    """Without the harness's Off (which keeps the other tests off the machine's resolver), the
    check is On and asks the system resolver. No request is made: nothing is looked up."""
    h = httpd(rules=RULES)
    conf = os.path.join(h.root, "conf", "httpd.conf")
    with open(conf) as f:
        text = f.read()
    assert "WSGuardCrawlerCheck Off\n" in text
    with open(conf, "w") as f:
        f.write(text.replace("WSGuardCrawlerCheck Off\n", ""))
    h.start()
    assert h.wait_error_line(r"AH19576: crawler check on: claimed crawlers verified by FCrDNS "
                             r"through the system resolver \(/etc/resolv.conf\)"), h.read_error_log()
    # and the harness's Off is honoured
    h2 = httpd(rules=RULES)
    h2.start()
    assert not h2.wait_error_line(r"AH19576", timeout=0.5)


def proc_status(pid):
    """The fields of /proc/PID/status that matter here, or None when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            kv = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None
    if kv.get("State", "").startswith("Z"):
        return None
    return {"ppid": int(kv["PPid"]), "uid": int(kv["Uid"].split()[0]),
            "threads": int(kv["Threads"])}


def verifier_pids(h):
    return [int(p) for p in re.findall(r"AH19576: crawler check on: .*\(verifier pid (\d+)\)",
                                       h.read_error_log())]


def test_verifier_is_one_process_per_generation(httpd, mpm, dns):
    """The lookups run in one process of their own, a child of httpd's parent running as the
    children's user, started again with each generation and gone with the server; a prefork
    child stays single-threaded (no thread of the check in it)."""
    ip = "127.52.0.9"
    host = "crawl-127-52-0-9.googlebot.com"
    d = dns(ptr={ptr_name(ip): [host]}, a={host: [ip]})
    h = httpd(mpm=mpm, rules=RULES, wsguard=CHECK % d.port)
    h.start()
    assert h.wait_error_line(r"AH19576: crawler check on"), h.read_error_log()
    [v1] = verifier_pids(h)
    st = proc_status(v1)
    kids = [k for k in h.child_pids() if k != v1]
    assert st and st["ppid"] == h.pid() and st["threads"] == 1, st
    assert kids and st["uid"] == proc_status(kids[0])["uid"] != 0, (st, kids)
    if mpm == "prefork":
        assert all(proc_status(k)["threads"] == 1 for k in kids if proc_status(k)), kids
    h.graceful()
    deadline = time.time() + 5
    while time.time() < deadline and (len(verifier_pids(h)) < 2 or proc_status(v1)):
        time.sleep(0.1)
    pids = verifier_pids(h)
    assert len(pids) == 2 and pids[1] != v1 and proc_status(v1) is None, pids
    assert proc_status(pids[1])["ppid"] == h.pid()
    # it still verifies: a claimed crawler's check is made by the new one
    visit(h, ip, REMOVED[:6])
    deadline = time.time() + 10
    while time.time() < deadline and crawler_line(h, ip) != "verified":
        time.sleep(0.2)
    assert crawler_line(h, ip) == "verified", show(h, ip)
    h.stop()
    assert proc_status(pids[1]) is None


def test_verifier_that_dies_is_started_again(httpd, dns):
    """A verifier killed after it ran a while is started again (said); one that ends at once
    after its start is not (said: no fork loop), and the server serves on either way."""
    d = dns()
    h = httpd(mpm="prefork", rules=RULES, wsguard=CHECK % d.port)
    h.expect_log(r"AH19580: crawler check: the verifier", r"AH19579: crawler check: the verifier")
    h.start()
    assert h.wait_error_line(r"AH19576: crawler check on"), h.read_error_log()
    [v1] = verifier_pids(h)
    time.sleep(10.5)                       # past the restart bound
    os.kill(v1, 9)
    m = h.wait_error_line(r"AH19580: crawler check: the verifier \(pid %d\) ended .*; started "
                          r"again \(pid (\d+)\)" % v1)
    assert m, h.read_error_log()
    v2 = int(re.findall(r"AH19580: .*started again \(pid (\d+)\)", h.read_error_log())[-1])
    st = proc_status(v2)
    assert st and st["ppid"] == h.pid() and v2 != v1, st
    os.kill(v2, 9)                         # at once after its start: not again
    assert h.wait_error_line(r"AH19579: crawler check: the verifier \(pid %d\) ended at once" % v2)
    time.sleep(0.5)
    assert "AH19580" not in h.read_error_log().split("AH19579")[-1]
    assert h.status("/index.html", src="127.52.0.20") == 200
