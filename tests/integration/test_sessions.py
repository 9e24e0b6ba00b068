"""Issue 13: legitimate clients that meet missing pages are never refused.

tests/corpus/sessions-legit.jsonl (modelled sessions, see tests/corpus/README-sessions.md):
search-engine crawlers revisiting removed PHP, ASP, JSP/Struts, CGI and phpBB pages, an archive
replaying old CMS URLs, link checkers after a migration, feed readers and uptime monitors polling a
removed URL for hours, people with typos and old bookmarks. Every session is replayed against a
real httpd with the SHIPPED rules and default thresholds, all sessions at once, each from its own
address in its own /24, at its own pace with time compressed by FACTOR and the score half-life
divided by the same FACTOR (an hour in 15 s, the half-life 1 h -> 15 s), so the decay each client
sees is the one it would see at real pace. Gaps are kept (a session that falls behind stays
behind rather than catching up in a burst). The site holds every page the sessions find.

Asserted: no request of any session is refused (403 or 429); every page that exists answers 200
and every missing one 404 (so the misses were really misses and were really scored). A control
replayed beside them, at the same compression, shows the replay can refuse: a scanner of 40
unlisted script names at one a second (real pace), with no rule matching any, is banned.
"""
import concurrent.futures as cf
import json
import os
import time

import wsg_httpd
from wsg_httpd import request

FACTOR = 240
SESSIONS = os.path.join(wsg_httpd.REPO, "tests", "corpus", "sessions-legit.jsonl")
HOST = "localhost"          # the harness's ServerName: Referers of this site name it


def load_sessions():
    with open(SESSIONS, encoding="utf-8") as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def site_files(sessions):
    """Every page a session finds, as a file (a target ending in / as its index.html)."""
    files = {}
    for s in sessions:
        for _, _, target, _, exists in s["requests"]:
            if not exists:
                continue
            path = target.split("?", 1)[0]
            if path.endswith("/"):
                path += "index.html"
            files[path] = "page %s\n" % path
    return files


def replay(port, src, sess):
    out = []
    last_t = 0.0
    for t, method, target, referer, exists in sess["requests"]:
        gap = (t - last_t) / FACTOR
        if gap > 0:
            time.sleep(gap)
        last_t = t
        hdrs = {"User-Agent": sess["ua"]}
        if referer:
            hdrs["Referer"] = "http://%s%s" % (HOST, referer)
        r = request(port, target, src=src, method=method, host="127.0.0.1", headers=hdrs, timeout=15)
        out.append((method, target, exists, r.status))
    return out


def test_legit_sessions_never_refused(httpd, mpm):
    sessions = load_sessions()
    assert len(sessions) >= 15, "the session corpus is missing sessions"
    rules = os.path.join(wsg_httpd.REPO, "rules")
    halflife = max(1, round(3600 / FACTOR))
    h = httpd(mpm=mpm, rules=None, files=site_files(sessions),
              wsguard="WSGuardRules %s\nWSGuardAllow none\nWSGuardScoreHalfLife %ds" % (rules, halflife))
    h.start()
    srcs = [wsg_httpd.src_addr(k, second=150) for k in range(len(sessions))]
    control = {"session": "control-scanner", "ua": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
               "requests": [[float(i), "GET", "/app/%s%d.%s" % ("qzxv"[i % 4] * 3, i, ("php", "aspx", "jsp", "cgi")[i % 4]),
                             None, False] for i in range(40)]}
    with cf.ThreadPoolExecutor(len(sessions) + 1) as ex:
        cfut = ex.submit(replay, h.port, "127.149.0.2", control)
        futs = [ex.submit(replay, h.port, src, s) for src, s in zip(srcs, sessions)]
        results = [f.result(timeout=300) for f in futs]
        cres = [st for _, _, _, st in cfut.result(timeout=300)]
    time.sleep(0.3)
    assert 403 in cres, "the control scanner was not banned: %r" % cres
    print("control scanner (40 unlisted names, 1/s): first refusal at request %d, banned at %d"
          % (next(i for i, st in enumerate(cres) if st in (403, 429)) + 1, cres.index(403) + 1))

    refused, wrong, lines = [], [], []
    for s, src, res in zip(sessions, srcs, results):
        evs = h.events(client=src)
        top = max([e.get("client_score", 0) for e in evs] or [0])
        n_miss = sum(1 for _, _, ex, _ in res if not ex)
        bad = [(m, t, st) for m, t, ex, st in res if st in (403, 429)]
        refused += [(s["session"],) + b for b in bad]
        wrong += [(s["session"], m, t, st) for m, t, ex, st in res
                  if st not in (403, 429) and st != (200 if ex else 404)]
        lines.append("%-40s %3d requests, %3d missing, %2d scored, top score %.2f, refused %d"
                     % (s["session"], len(res), n_miss, len(evs), top, len(bad)))
    print("\n".join(lines))
    assert not wrong, wrong[:10]
    assert not refused, "legitimate sessions refused: %r" % refused[:20]
