#!/usr/bin/python3
"""scan-job: the product's real job, measured end to end on a real httpd.

Starts httpd on 127.0.0.1 with the built mod_wsguard, the SHIPPED rules (<repo>/rules) and default
thresholds, and a DocumentRoot holding every path of the corpus's legit-dev-files.txt as a file.
Then, in parallel:
  * scanners replay probes-dev.txt in sessions of 40 requests, session k from its own loopback
    address in its own /24 (127.1.k.2), so no session's prefix ban decides another's;
  * visitors replay legit-dev.txt in sessions of 200 (127.2.k.2).
Every request is a new connection (so many children serve one client). Prints:
  scanner sessions refused (%), median probes answered before refusal, visitor sessions refused,
  refused scanner sessions banned (403, not only rate-limited) by their 12th probe (%).
Exit 0 when the targets hold (>= 99 %, <= 2, 0, 100 %), 1 when not, 2 when the run itself failed.
Once banned, a session is refused everything (a ban refuses all); while only rate-limited, a
request that does not look like a probe (no rule, no script name that may miss, a repeat) is
served: that is counted (served_in_ratelimit), not a failure.

    sudo scripts/scan-job.py [--mpm prefork|event] [--threads 8] [--json] [--keep]
Env: WSG_BUILD (build dir, default <repo>/build), WSG_CORPUS (default <repo>/tests/corpus).
"""
import argparse
import concurrent.futures as cf
import json
import os
import re
import statistics
import sys
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import wsg_httpd  # noqa: E402
from wsg_httpd import ClientError, WSGHttpd, request  # noqa: E402

SCAN_SESSION = 40
VISIT_SESSION = 200
REFUSED = (403, 429)
BANNED_BY = 12                   # every refused scanner is banned by its 12th probe
TARGETS = {"scanner_refused_pct": 99.0, "median_probes_before_refusal": 2, "visitor_sessions_refused": 0,
           "refused_banned_by_12_pct": 100.0}


def scanner_addr(k):
    # 127.1.k.2 for the first 250 sessions, then further /24s well away from the visitors' 127.2.x.
    return "127.1.%d.2" % k if k < 250 else "127.%d.%d.2" % (10 + (k - 250) // 250, (k - 250) % 250)


def visitor_addr(k):
    return "127.2.%d.2" % k if k < 250 else "127.%d.%d.2" % (60 + (k - 250) // 250, (k - 250) % 250)


def read_requests(path):
    out = []
    with open(path, encoding="ascii", errors="replace") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln:
                method, _, target = ln.partition(" ")
                out.append((method, target))
    return out


def build_docroot(docroot, files_list):
    """Every path of legit-dev-files.txt as an (empty) file. Paths with a query are covered by their
    own path line; a path that is also a parent directory of another stays a directory."""
    paths = set()
    for method, target in read_requests(files_list):
        if "?" in target:
            continue
        p = urllib.parse.unquote(target)
        if p.endswith("/") or "/../" in p or "/./" in p:
            continue
        paths.add(p)
    dirs = set()
    for p in paths:
        d = os.path.dirname(p)
        while d not in ("/", ""):
            dirs.add(d)
            d = os.path.dirname(d)
    conflicts = sorted(paths & dirs)
    n = 0
    for p in sorted(paths - dirs):
        full = os.path.join(docroot, p.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb"):
            pass
        n += 1
    for d in dirs:
        os.makedirs(os.path.join(docroot, d.lstrip("/")), exist_ok=True)
    wsg_httpd._chmod_tree_readable(docroot)
    return n, conflicts


def body_for(method, target, scanner):
    if method != "POST":
        return None
    # What the tools send: the AutoXploiter checker POSTs pass=<pw>&watching=submit; a visitor's
    # form post is an ordinary form.
    return "pass=admin123&watching=submit" if scanner else "log=alice&pwd=correct-horse&rememberme=forever"


def run_session(port, src, reqs, scanner, deadline):
    """Replays reqs from src; returns the list of statuses (None: no HTTP answer)."""
    out = []
    for method, target in reqs:
        if time.time() > deadline:
            break
        try:
            r = request(port, target, src=src, method=method, body=body_for(method, target, scanner),
                        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) scan-job"}, timeout=15)
            out.append(r.status)
        except ClientError:
            out.append(None)
    return out


def chunks(seq, n):
    return [seq[i:i + n] for i in range(0, len(seq), n)]


def run(mpm="prefork", threads=8, keep=False, time_limit=240, log=print):
    corpus = wsg_httpd.corpus_dir()
    probes = read_requests(os.path.join(corpus, "probes-dev.txt"))
    visits = read_requests(os.path.join(corpus, "legit-dev.txt"))
    rules = os.path.join(REPO, "rules")
    if not os.path.isdir(rules) or not any(f.endswith(".rules") for f in os.listdir(rules)):
        raise RuntimeError("no shipped rules in %s" % rules)
    if not os.path.exists(wsg_httpd.module_path()):
        raise RuntimeError("%s missing: run make" % wsg_httpd.module_path())

    h = WSGHttpd(mpm=mpm, rules=None, files={}, name="scan-job",
                 wsguard="WSGuardRules %s\nWSGuardAllow none" % rules)
    h.expect_log(r"possible web shell present")     # counted and reported below, not a failure here
    t0 = time.time()
    nfiles, conflicts = build_docroot(h.docroot, os.path.join(corpus, "legit-dev-files.txt"))
    log("docroot: %d files (%d paths are also directories) in %.1fs" % (nfiles, len(conflicts), time.time() - t0))
    h.start()
    try:
        scan_sessions = chunks(probes, SCAN_SESSION)
        visit_sessions = chunks(visits, VISIT_SESSION)
        deadline = time.time() + time_limit
        t1 = time.time()
        with cf.ThreadPoolExecutor(threads) as ex:
            sf = [ex.submit(run_session, h.port, scanner_addr(k), s, True, deadline)
                  for k, s in enumerate(scan_sessions)]
            vf = [ex.submit(run_session, h.port, visitor_addr(k), s, False, deadline)
                  for k, s in enumerate(visit_sessions)]
            scan_res = [f.result() for f in sf]
            visit_res = [f.result() for f in vf]
        elapsed = time.time() - t1
        if time.time() > deadline:
            raise RuntimeError("time limit of %ds hit before the replay finished" % time_limit)
        h.stop()
    finally:
        if h.running:
            h.stop()

    refused_at = []              # per refused scanner session: probes answered before the refusal
    banned_at = []               # ... and before the ban (None: never banned)
    unrefused = []
    leaks = 0                    # sessions answered normally again after their ban
    served_in_tier = 0           # requests served while rate-limited (not probes, or repeats)
    for k, res in enumerate(scan_res):
        first = next((i for i, s in enumerate(res) if s in REFUSED), None)
        if first is None:
            unrefused.append(k)
        else:
            refused_at.append(first)
            ban = next((i for i, s in enumerate(res) if s == 403), None)
            banned_at.append(ban)
            if ban is not None and any(s != 403 for s in res[ban:]):
                leaks += 1
            served_in_tier += sum(1 for s in res[first:ban] if s not in REFUSED)
    not_banned = [k for k, b in zip([k for k in range(len(scan_res)) if k not in unrefused], banned_at)
                  if b is None or b >= BANNED_BY]
    visitors_refused = [k for k, res in enumerate(visit_res) if any(s in REFUSED for s in res)]
    all_status = [s for res in scan_res + visit_res for s in res]
    noanswer = sum(1 for s in all_status if s is None)
    fivexx = sum(1 for s in all_status if s is not None and s >= 500)
    probe_2xx = sum(1 for res in scan_res for s in res if s is not None and 200 <= s < 300)
    alerts = len(h.error_lines(r"possible web shell present"))
    bad_log = h.unexpected_log_lines()

    pct = 100.0 * len(refused_at) / len(scan_res) if scan_res else 0.0
    median = statistics.median(refused_at) if refused_at else None
    result = {
        "mpm": mpm,
        "scanner_sessions": len(scan_res),
        "scanner_sessions_refused": len(refused_at),
        "scanner_refused_pct": round(pct, 2),
        "median_probes_before_refusal": median,
        "max_probes_before_refusal": max(refused_at) if refused_at else None,
        "visitor_sessions": len(visit_res),
        "visitor_sessions_refused": len(visitors_refused),
        "visitor_requests": sum(len(r) for r in visit_res),
        "unrefused_scanner_sessions": [
            {"session": k, "src": scanner_addr(k), "first": scan_sessions[k][0][1], "statuses": scan_res[k]}
            for k in unrefused],
        "refused_visitor_sessions": [
            {"session": k, "src": visitor_addr(k),
             "refused": [visit_sessions[k][i] for i, s in enumerate(visit_res[k]) if s in REFUSED][:10]}
            for k in visitors_refused],
        "refused_banned_by_12": len(refused_at) - len(not_banned),
        "refused_banned_by_12_pct": round(100.0 * (len(refused_at) - len(not_banned)) / len(refused_at), 2)
        if refused_at else 0.0,
        "median_probes_before_ban": statistics.median([b for b in banned_at if b is not None])
        if any(b is not None for b in banned_at) else None,
        "max_probes_before_ban": max([b for b in banned_at if b is not None], default=None),
        "refused_not_banned_by_12": [
            {"session": k, "src": scanner_addr(k), "first": scan_sessions[k][0][1], "statuses": scan_res[k][:20]}
            for k in not_banned][:20],
        "served_in_ratelimit": served_in_tier,
        "leaky_scanner_sessions": leaks,
        "no_answer": noanswer,
        "status_5xx": fivexx,
        "probe_2xx": probe_2xx,
        "alerts": alerts,
        "unexpected_error_log_lines": bad_log[:20],
        "requests": len(all_status),
        "seconds": round(elapsed, 1),
        "server_root": h.root,
    }
    if not keep:
        h.cleanup()
    return result


def targets_met(r):
    return (r["scanner_refused_pct"] >= TARGETS["scanner_refused_pct"]
            and r["median_probes_before_refusal"] is not None
            and r["median_probes_before_refusal"] <= TARGETS["median_probes_before_refusal"]
            and r["visitor_sessions_refused"] == TARGETS["visitor_sessions_refused"]
            and r["refused_banned_by_12_pct"] >= TARGETS["refused_banned_by_12_pct"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mpm", choices=wsg_httpd.MPMS, default="prefork")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--time-limit", type=int, default=240, help="seconds for the replay (default 240)")
    ap.add_argument("--keep", action="store_true", help="keep the server directory (logs, state)")
    ap.add_argument("--json", action="store_true", help="also print the full result as one JSON line")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("scan-job: run as root (httpd's children run as www-data)", file=sys.stderr)
        return 2
    try:
        r = run(mpm=a.mpm, threads=a.threads, keep=a.keep, time_limit=a.time_limit,
                log=lambda m: print(m, file=sys.stderr))
    except (RuntimeError, OSError) as e:
        print("scan-job: %s" % e, file=sys.stderr)
        return 2
    print("scanner sessions refused: %d/%d (%.1f%%)" % (
        r["scanner_sessions_refused"], r["scanner_sessions"], r["scanner_refused_pct"]))
    print("median probes before refusal: %s" % r["median_probes_before_refusal"])
    print("visitor sessions refused: %d/%d" % (r["visitor_sessions_refused"], r["visitor_sessions"]))
    print("refused scanner sessions banned by their %dth probe: %d/%d (%.1f%%; median probes before the "
          "ban: %s, max: %s)" % (BANNED_BY, r["refused_banned_by_12"], r["scanner_sessions_refused"],
                                 r["refused_banned_by_12_pct"], r["median_probes_before_ban"],
                                 r["max_probes_before_ban"]))
    print("(%d requests in %.1fs with %s; probes answered 2xx: %d, alerts: %d, 5xx: %d, no answer: %d, "
          "sessions served again after their ban: %d, requests served while rate-limited: %d)" % (
              r["requests"], r["seconds"], r["mpm"], r["probe_2xx"], r["alerts"], r["status_5xx"],
              r["no_answer"], r["leaky_scanner_sessions"], r["served_in_ratelimit"]))
    for u in r["refused_not_banned_by_12"][:10]:
        print("  not banned by the %dth probe: session %d from %s: %s" % (BANNED_BY, u["session"], u["src"],
                                                                         u["statuses"]))
    for u in r["unrefused_scanner_sessions"][:10]:
        print("  not refused: session %d from %s starting at %s" % (u["session"], u["src"], u["first"]))
    for v in r["refused_visitor_sessions"][:10]:
        print("  visitor refused: session %d from %s at %s" % (v["session"], v["src"], v["refused"][:3]))
    for ln in r["unexpected_error_log_lines"][:10]:
        print("  error log: %s" % ln)
    if a.json:
        print(json.dumps(r))
    return 0 if targets_met(r) else 1


if __name__ == "__main__":
    sys.exit(main())
