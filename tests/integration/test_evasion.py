"""Disguised probes reach the rules as their plain form, against a real httpd with the shipped rules:
whatever trick a scanner uses, /wso.php is scored as /wso.php. Some disguises (an encoded slash or
NUL) make httpd answer 404 before any module sees the request; those are judged in the logging
phase, so they are scored all the same."""
import os

import wsg_httpd

SHIPPED = os.path.abspath(os.path.join(os.path.dirname(wsg_httpd.__file__), "..", "..", "rules"))

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
]


def test_disguised_probes_match_as_plain(httpd, mpm):
    h = httpd(mpm=mpm, rules=SHIPPED, wsguard="WSGuardAllow none\nWSGuardEngine DetectionOnly")
    h.start()
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
            missing.append((target, evs[:1]))
    assert not missing, missing
