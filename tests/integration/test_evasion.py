"""Disguised probes reach the rules as their plain form, against a real httpd with the shipped rules:
whatever trick a scanner uses, /wso.php is scored as /wso.php. Some disguises (an encoded slash or
NUL) make httpd answer 404 before any module sees the request; those are judged in the logging
phase, so they are scored all the same."""
import os
import subprocess

import wsg_httpd

SHIPPED = os.path.abspath(os.path.join(os.path.dirname(wsg_httpd.__file__), "..", "..", "rules"))

# /a/a/.../a/../../.../wso.php, 16 KB: longer than any fixed 8 KB buffer before ".." is resolved.
PADDED = "/a" * 3300 + "/.." * 3300 + "/wso.php"

DISGUISES = [
    "/wso.php",                  # plain, for reference
    "/WSO.PHP",                  # case
    "/%77so.php",                # percent-encoding
    "/%2577so.php",              # double encoding
    "/images/../wso.php",        # dot-segments
    "/./wso.php",
    "//wso.php",                 # doubled slash
    "/wso.php;.jpg",             # path parameter (IIS 6 / Tomcat)
    "/wso.php.",                 # trailing dot (Windows)
    "/wso.php%20",               # trailing space (Windows)
    "/wso.php::$DATA",           # NTFS stream
    "/x/..%2fwso.php",           # encoded slash: httpd 404s before the hooks
    "/wso.php%00.jpg",           # NUL: httpd 404s before the hooks
    "/%c0%afwso.php",            # overlong UTF-8 '/'
    "/x/..%5cwso.php",           # encoded backslash
    "/wso.php/",                 # path-info: httpd's PHP/CGI handlers run /wso.php
    "/wso.php/x.jpg",
    "/wso.php/.",
    "http:/wso.php",             # scheme with one slash: httpd serves /wso.php
    PADDED,                      # 16 KB of dot-segments (LimitRequestLine 20000 below)
]


def test_disguised_probes_match_as_plain(httpd, mpm):
    h = httpd(mpm=mpm, rules=SHIPPED, wsguard="WSGuardAllow none\nWSGuardEngine DetectionOnly",
              extra="LimitRequestLine 20000")
    h.start()
    assert len(PADDED) > 16 * 1024
    srcs = {}
    for i, target in enumerate(DISGUISES):
        src = "127.40.%d.2" % i
        srcs[src] = target
        r = wsg_httpd.request(h.port, target, src=src)
        assert r.status < 500, (target, r.status)
    missing = []
    for src, target in srcs.items():
        evs = h.wait_events(lambda e, s=src: e.get("client") == s, timeout=5)
        if not evs or evs[0]["path"] != "/wso.php" or 100102 not in evs[0]["rules"]:
            missing.append((target[:80], evs[:1]))
    assert not missing, missing
    ev = h.events(client="127.40.%d.2" % DISGUISES.index("/wso.php/x.jpg"))[0]
    assert "pathinfo" in ev["flags"] and ev["uri"] == "/wso.php/x.jpg", ev


def test_pathinfo_scores_as_the_script_and_alerts(httpd, mpm):
    """With AcceptPathInfo On, /wso.php/x.jpg is /wso.php with path-info, answered 200: the module
    scores it as /wso.php and raises the web-shell alert; a WordPress-style permalink through
    index.php is served as well and scores nothing."""
    files = {"/wso.php": "<?php echo 1; ?>\n", "/c99.php": "<?php echo 2; ?>\n",
             "/index.php": "<?php /* front controller */ ?>\n"}
    h = httpd(mpm=mpm, rules=SHIPPED, files=files,
              wsguard="WSGuardAllow none\nWSGuardThresholds off 1000",
              extra="AcceptPathInfo On\nLimitRequestLine 20000")
    h.expect_log(r"possible web shell present")
    h.start()
    cases = [("/wso.php/", "/wso.php", 100102), ("/wso.php/x.jpg", "/wso.php", 100102),
             ("/c99.php/.", "/c99.php", 100101), ("/c99.php/x.jpg", "/c99.php", 100101),
             (PADDED, "/wso.php", 100102)]
    for i, (target, _, _) in enumerate(cases):
        r = wsg_httpd.request(h.port, target, src="127.41.%d.2" % i)
        assert r.status == 200, (target[:80], r.status)
    bad = []
    for i, (target, path, rule) in enumerate(cases):
        src = "127.41.%d.2" % i
        alerts = h.wait_events(lambda e, s=src: e.get("client") == s and e.get("event") == "alert")
        # One request, one event: the alert carries what the probe matched and scored.
        others = [e for e in h.events(client=src) if e.get("event") != "alert"]
        if len(alerts) != 1 or alerts[0]["path"] != path or alerts[0]["status"] != 200 \
                or rule not in (alerts[0].get("rules") or []) or (alerts[0].get("score") or 0) < 5 \
                or others:
            bad.append((target[:80], h.events(client=src)))
    assert not bad, bad
    lines = h.error_lines(r"possible web shell present")
    assert len(lines) == len(cases), lines
    assert any("GET /c99.php answered 200" in ln for ln in lines), lines
    # A front controller with path-info is what runs here; it is no probe.
    for i, target in enumerate(["/index.php/2024/01/post-title", "/index.php/feed/",
                                "/index.php/wp-json/wp/v2/posts?page=2"]):
        assert wsg_httpd.request(h.port, target, src="127.42.%d.2" % i).status == 200, target
    assert wsg_httpd.request(h.port, "/wso.php", src="127.42.9.2").status == 200   # a marker
    h.wait_events(lambda e: e.get("client") == "127.42.9.2")
    legit = [e for e in h.events() if e.get("client", "").startswith("127.42.")
             and e["client"] != "127.42.9.2"]
    assert not legit, legit


def test_rules_test_normalises_as_the_module(wsguardctl):
    """`wsguardctl rules test` shows what the module matches: the script of a path-info target,
    "http:/x.php" as /x.php, a 16 KB padded target resolved whole; a permalink matches nothing."""
    want = {"/wso.php/x.jpg": "100102", "/c99.php/.": "100101", "http:/x.php": "300001",
            PADDED: "100102", "/index.php/2024/01/post-title": None}
    for target, rule in want.items():
        out = subprocess.run([wsguardctl, "rules", "test", "--rules", SHIPPED, "GET " + target],
                             capture_output=True, text=True, timeout=30).stdout
        assert out.startswith("GET " + target + "  "), (target[:80], out[:200])
        res = out[len(target) + 6:].strip()
        if rule is None:
            # no rule; only the miss score of a script name, should it 404
            assert res.split()[0] == "-" and "ids=" not in res, (target[:80], res)
        else:
            ids = res.split()[0][4:].split(",") if res.startswith("ids=") else []
            assert rule in ids, (target[:80], res)
