"""?metrics on the wsguard-status handler: Prometheus text exposition whose counters say what
happened, summed over every process (prefork's children, the event MPM's threads in a few
processes); they live in shared memory, so a graceful restart keeps them."""
import concurrent.futures as cf
import re

STATUS = ("<Location /wsguard-status>\n  SetHandler wsguard-status\n"
          "  Require ip 127.0.0.1\n</Location>")
RULES = 'id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'
SCANNERS = ["127.46.%d.2" % k for k in range(1, 7)]


def scrape(h, query="metrics"):
    r = h.get("/wsguard-status?" + query, src="127.0.0.1")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    text = r.body.decode()
    out = {}
    for ln in text.splitlines():
        if ln.startswith("#") or not ln.strip():
            continue
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$', ln)
        assert m, "not exposition format: %r" % ln
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    # every sample has its HELP and TYPE
    for name in {k.split("{")[0] for k in out}:
        assert "# TYPE %s " % name in text and "# HELP %s " % name in text, name
    return out


def test_metrics_count_what_happened(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, extra=STATUS,
              wsguard="WSGuardThresholds off 5\nWSGuardPrefixBan off",
              files={"index.html": "hi\n", "probe/shell.php": "<?php ?>\n"})
    h.expect_log(r"possible web shell present", r"client banned")
    h.start()
    before = scrape(h)
    assert before["wsguard_requests_inspected_total"] == 0
    assert before['wsguard_probes_total{tag="php-shell"}'] == 0

    def scanner(src):
        # 4 probes answered 404, the 5th crosses the ban threshold (refused, a ban), 5 refused
        return [h.status("/probe/%s-%d.php" % (src, i), src=src) for i in range(10)]

    with cf.ThreadPoolExecutor(len(SCANNERS) + 1) as ex:
        futs = [ex.submit(scanner, s) for s in SCANNERS]
        futs.append(ex.submit(lambda: [h.status("/index.html", src="127.47.0.2")
                                       for _ in range(20)]))
        results = [f.result(timeout=120) for f in futs]
    for codes in results[:-1]:
        assert codes == [404] * 4 + [403] * 6, codes
    assert results[-1] == [200] * 20
    assert h.status("/probe/shell.php", src="127.47.1.2") == 200      # the alert

    pids = {ln.split()[1] for ln in open(h.access_log) if '"GET /probe/' in ln}
    assert len(pids) > 1, pids        # the sums are over several processes

    m = scrape(h)
    n = len(SCANNERS)
    assert m['wsguard_probes_total{tag="php-shell"}'] == 5 * n + 1, m
    assert m['wsguard_probes_total{tag="none"}'] == 0
    assert m['wsguard_refused_total{reason="ban"}'] == 6 * n, m
    assert m['wsguard_refused_total{reason="ratelimit"}'] == 0
    assert m['wsguard_refused_total{reason="prefix"}'] == 0
    assert m['wsguard_refused_total{reason="crowdsec"}'] == 0
    assert m["wsguard_bans_total"] == n
    assert m["wsguard_shell_alerts_total"] == 1
    assert m["wsguard_store_errors_total"] == 0
    # the header phase inspects what quick_handler did not refuse: 5 per scanner, 20 clean, 1
    assert m["wsguard_requests_inspected_total"] == 5 * n + 20 + 1, m
    assert m["wsguard_records"] == n + 1 and m["wsguard_bans_active"] == n
    assert m["wsguard_records_capacity"] > 0 and 0 < m["wsguard_map_use_ratio"] < 1
    assert m["wsguard_evictions_total"] == 0

    # what a Prometheus scrape config with params {metrics: [""]} asks for
    assert scrape(h, "metrics=")["wsguard_bans_total"] == n

    # a graceful restart keeps the table (and the counts)
    h.graceful()
    after = scrape(h)
    assert after["wsguard_bans_total"] == n and after["wsguard_shell_alerts_total"] == 1, after


def test_metrics_refusal_reasons(httpd):
    """Each refusal is counted under its reason: the address banned (here, or manually), its
    prefix banned, a 429."""
    h = httpd(mpm="prefork", rules=RULES, extra=STATUS,
              wsguard="WSGuardThresholds 3 50\nWSGuardPrefixBan 4")
    h.expect_log(r"client banned")
    h.start()
    # two addresses of 127.48.1.0/24 reach 4 together: the prefix is banned
    assert h.statuses(["/probe/a.php", "/probe/b.php"], src="127.48.1.2") == [404, 404]
    assert h.statuses(["/probe/c.php", "/probe/d.php"], src="127.48.1.3")[-1] == 403
    assert h.status("/index.html", src="127.48.1.9") == 403            # a third, by prefix
    # rate-limited: 3 probes reach 3 (the third is refused itself), then another probe (429)
    # and a page (served: the 429 tier refuses probes only)
    assert h.statuses(["/probe/e.php", "/probe/f.php", "/probe/g.php", "/probe/k.php",
                       "/index.html"], src="127.48.2.2") == [404, 404, 429, 429, 200]
    rc, out, err = h.ctl("ban", "127.48.3.2", "--for", "1h")
    assert rc == 0, out + err
    assert h.status("/index.html", src="127.48.3.2") == 403            # manual: "ban"
    m = scrape(h)
    assert m['wsguard_refused_total{reason="prefix"}'] >= 1, m
    assert m['wsguard_refused_total{reason="ratelimit"}'] == 2, m
    assert m['wsguard_refused_total{reason="ban"}'] >= 1, m
    assert m['wsguard_refused_total{reason="crowdsec"}'] == 0
    # the status page says DetectionOnly when it is
    h.stop()
    h.write_config(wsguard="WSGuardThresholds off 2\nWSGuardPrefixBan off\n"
                           "WSGuardEngine DetectionOnly")
    h.start()
    assert h.statuses(["/probe/h.php", "/probe/i.php", "/probe/j.php"],
                      src="127.48.5.2") == [404, 404, 404]
    doc = __import__("json").loads(h.get("/wsguard-status?json", src="127.0.0.1").body)
    assert doc["mode"] == "DetectionOnly", doc["mode"]
    bans = {b["address"]: b for b in doc["bans"]}
    assert bans["127.48.3.2"]["origin"] == "manual"
    assert bans["127.48.5.2"]["detection_only"] is True, bans
    page = h.get("/wsguard-status", src="127.0.0.1").body.decode()
    assert "detection only, not enforced" in page
