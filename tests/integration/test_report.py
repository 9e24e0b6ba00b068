"""wsguardctl report end to end: a generated event log through the built binary, for each format,
validated with stix_check (the OASIS STIX 2.1 JSON schemas vendored in tests/stix-schemas, STIX
and MISP structure), misp_feed_check (the feed directory), csv
and json from the standard library; and the event log a real httpd writes (rotated, gzip'd;
a campaign with the engine On).

    WSG_BUILD=build-mine /usr/bin/python3 -m pytest -q tests/integration/test_report.py
"""
import csv
import datetime
import io
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import stix_check  # noqa: E402

BUILD = os.environ.get("WSG_BUILD", os.path.join(REPO, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(REPO, BUILD)
CTL = os.path.join(BUILD, "wsguardctl")

pytestmark = pytest.mark.skipif(not os.access(CTL, os.X_OK), reason=f"{CTL} not built")

OWN = ["www.acme-corp.example", "shop.acme-corp.example"]
SECRETS = ["acme-corp", "10.20.30.40", "192.168.1.77", "fd00::1:2", "172.16.5.5",
           "s3cr3t-value", "hunter2", "intranet"]
SCANNERS = ["45.33.12.7", "185.220.101.3", "2a01:4f8:1:2::3", "91.200.1.1"]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def event(t, client, uri, status=404, ua="Mozilla/5.0", vhost=OWN[0], kind="probe", tag="php-shell",
          rules=(1001,), ban_until=None):
    path = uri.split("?", 1)[0]
    return {"time": iso(t), "event": kind, "client": client, "vhost": vhost, "method": "GET",
            "uri": uri, "path": path, "status": status, "ua": ua, "rules": list(rules), "tag": tag,
            "msg": "test", "score": 10, "client_score": 42.5, "action": "pass",
            "ban_until": iso(ban_until) if ban_until else None, "flags": []}


@pytest.fixture
def log(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    ev = []
    for i, path in enumerate(["/shell.php", "/c99.php", "/r57.php", "/wso.php", "/b374k.php"]):
        ev.append(event(now - datetime.timedelta(hours=2, minutes=i), SCANNERS[0],
                        path + "?pass=hunter2&cmd=id"))
    ev.append(event(now - datetime.timedelta(hours=1), SCANNERS[0], "/uploads/x.php", status=200,
                    kind="alert", ban_until=now + datetime.timedelta(days=60)))
    ev.append(event(now - datetime.timedelta(hours=3), SCANNERS[1], "/cmd.aspx?k=s3cr3t-value",
                    ua='Evil, "quoted"\nbot from 10.20.30.40', tag="asp-shell"))
    ev.append(event(now - datetime.timedelta(hours=4), SCANNERS[2],
                    "http://shop.acme-corp.example/up/192.168.1.77/shell.jsp", tag="jsp-shell"))
    ev.append(event(now - datetime.timedelta(days=3), SCANNERS[3], "/old.php"))
    # internal clients: present in plain reports, gone from anonymised ones
    ev.append(event(now - datetime.timedelta(hours=5), "172.16.5.5", "/a.php",
                    vhost="intranet.acme-corp.example"))
    ev.append(event(now - datetime.timedelta(hours=5), "fd00::1:2", "/b.php", ua="curl"))
    lines = [json.dumps(e) for e in ev]
    lines.insert(3, "garbage {not json")
    lines.insert(5, '{"event": "probe"}')
    lines.append(json.dumps({"time": iso(now), "event": "unban", "client": SCANNERS[0]}))
    p = tmp_path / "events.log"
    p.write_text("\n".join(lines) + "\n")
    return p


def run(*args, check=True, text=True):
    r = subprocess.run([CTL, "report", *map(str, args)], capture_output=True, text=text,
                       timeout=60)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_help():
    r = run("--help")
    for word in ("--format", "--since", "--until", "--anonymise", "--tlp", "--org", "stix",
                 "misp"):
        assert word in r.stdout


def test_usage_errors(log, tmp_path):
    assert run(log, "--format", "xml", check=False).returncode == 2
    assert run(log, "--tlp", "purple", check=False).returncode == 2
    assert run(log, "--since", "yesterday", check=False).returncode == 2
    assert run(check=False).returncode == 2
    r = run(tmp_path / "missing.log", check=False)
    assert r.returncode == 1 and "missing.log" in r.stderr


def test_csv(log):
    r = run("--log", log, "--format", "csv", text=False)
    assert b"skipped 2 of" in r.stderr
    out = r.stdout.decode()
    assert out.count("\r\n") == 7  # RFC 4180 line ends: header + 6 rows
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    by = {row["address"]: row for row in rows}
    assert set(SCANNERS) | {"172.16.5.5", "fd00::1:2"} == set(by)
    s = by[SCANNERS[0]]
    assert s["count"] == "6" and s["distinct_paths"] == "6" and s["possible_shell"] == "yes"
    assert s["shell_paths"] == "/uploads/x.php"
    # a control byte from the log is escaped in the cell (a raw LF would reach the analyst's tools)
    assert by[SCANNERS[1]]["user_agents"] == 'Evil, "quoted"\\x0abot from 10.20.30.40'
    assert by[SCANNERS[2]]["family"] == "ipv6"


def test_since_until_relative(log):
    rows = list(csv.DictReader(io.StringIO(run(log, "--since", "24h").stdout, newline="")))
    assert SCANNERS[3] not in {r["address"] for r in rows}
    assert SCANNERS[0] in {r["address"] for r in rows}
    rows = list(csv.DictReader(io.StringIO(run(log, "--until", "2d").stdout, newline="")))
    assert [r["address"] for r in rows] == [SCANNERS[3]]
    until = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2, minutes=30)
    rows = list(csv.DictReader(io.StringIO(
        run(log, "--since", "7d", "--until", iso(until)).stdout, newline="")))
    assert SCANNERS[0] not in {r["address"] for r in rows}
    assert SCANNERS[1] in {r["address"] for r in rows}


def test_json(log):
    rep = json.loads(run(log, "--format", "json").stdout)
    assert rep["skipped_lines"] == 2
    c = {x["address"]: x for x in rep["clients"]}
    assert c[SCANNERS[0]]["possible_shell"] is True
    assert c[SCANNERS[0]]["statuses"] == {"404": 5, "200": 1}
    assert rep["clients"][0]["address"] == SCANNERS[0]  # possible shells first


@pytest.mark.parametrize("tlp", ["white", "green", "amber", "red"])
def test_stix_valid(log, tlp):
    b = json.loads(run(log, "--format", "stix", "--tlp", tlp, "--org", "ACME CERT").stdout)
    assert stix_check.check_stix(b) == []
    marks = [o for o in b["objects"] if o["type"] == "marking-definition"]
    assert len(marks) == 1 and marks[0]["definition"]["tlp"] == tlp
    assert stix_check.TLP_IDS[marks[0]["id"]] == tlp
    ind = [o for o in b["objects"] if o["type"] == "indicator"]
    assert len(ind) == 6
    sig = {o["sighting_of_ref"]: o for o in b["objects"] if o["type"] == "sighting"}
    for i in ind:
        assert i["id"] in sig
    top = next(i for i in ind if SCANNERS[0] in i["pattern"])
    assert sig[top["id"]]["count"] == 6
    assert "possible-web-shell-present" in top["labels"]
    aps = {o["external_references"][0]["external_id"] for o in b["objects"]
           if o["type"] == "attack-pattern"}
    assert aps == {"T1595.003", "T1505.003"}


def test_fixed_identity(log):
    ident = "identity--8d3f6a52-1c2b-4e5f-9a7b-0c1d2e3f4a5b"
    b = json.loads(run(log, "--format", "stix", "--identity", ident).stdout)
    assert stix_check.check_stix(b) == []
    assert [o["id"] for o in b["objects"] if o["type"] == "identity"] == [ident]
    assert all(o.get("created_by_ref") == ident for o in b["objects"]
               if o["type"] != "marking-definition")
    assert run(log, "--identity", "identity--nope", check=False).returncode == 2


def test_stix_schemas_vendored_and_offline():
    """Every $ref of the vendored OASIS schemas resolves to a vendored file (nothing would be
    fetched), and every type the renderer writes has its own schema."""
    import urllib.parse
    stix_check._load_schemas()
    ids = set(stix_check._schemas)
    assert len(ids) >= 50 and stix_check.schema_for("bundle") in ids

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for sid, sch in stix_check._schemas.items():
        for r in refs(sch):
            target = urllib.parse.urldefrag(urllib.parse.urljoin(sid, r))[0]
            assert target in ids, f"{sid}: $ref {r} is not vendored"
    for t in ("identity", "marking-definition", "attack-pattern", "indicator", "sighting",
              "relationship", "campaign", "infrastructure", "ipv4-addr"):
        assert stix_check.schema_for(t), t


def test_stix_checker_rejects_schema_violations(log):
    """The checker fails a bundle the OASIS schemas reject, including what the structural checks
    alone let through (an empty labels or kill_chain_phases list: minItems 1 in the schemas)."""
    import copy
    good = json.loads(run(log, "--format", "stix").stdout)
    assert stix_check.check_stix_schema(good) == []

    def broken(change):
        b = copy.deepcopy(good)
        change(b)
        return b

    def first(b, t):
        return next(o for o in b["objects"] if o["type"] == t)
    cases = {
        "labels": lambda b: first(b, "indicator").__setitem__("labels", []),
        "kill_chain_phases": lambda b: first(b, "attack-pattern").__setitem__(
            "kill_chain_phases", []),
        "pattern_type": lambda b: first(b, "indicator").pop("pattern_type"),
        "count": lambda b: first(b, "sighting").__setitem__("count", "6"),
        "created": lambda b: first(b, "identity").__setitem__("created", "2026-01-01T00:00:00Z"),
        "marking-definition.json": lambda b: first(b, "marking-definition").__setitem__(
            "definition_type", 5),
        "objects": lambda b: b.__setitem__("objects", []),
    }
    for what, change in cases.items():
        errs = stix_check.check_stix_schema(broken(change))
        assert errs and any(what in e for e in errs), (what, errs)
        assert stix_check.check_stix(broken(change)) != [], what
    # these two only the schemas catch
    for what in ("labels", "kill_chain_phases"):
        errs = stix_check.check_stix(broken(cases[what]))
        assert errs and all("schema" in e for e in errs), (what, errs)


def test_misp_valid(log):
    ev = json.loads(run(log, "--format", "misp", "--tlp", "green").stdout)
    assert stix_check.check_misp(ev) == []
    attrs = ev["Event"]["Attribute"]
    assert {a["value"] for a in attrs if a["type"] == "ip-src"} == set(SCANNERS) | {
        "172.16.5.5", "fd00::1:2"}
    assert {"uri", "user-agent"} <= {a["type"] for a in attrs}
    assert "url" not in {a["type"] for a in attrs}  # request paths are uri (MISP: url = absolute)
    assert all(a["to_ids"] == (a["type"] == "ip-src") for a in attrs)
    assert {"name": "tlp:green"} in ev["Event"]["Tag"]
    assert {"name": 'misp-galaxy:mitre-attack-pattern="Web Shell - T1505.003"'} in ev["Event"]["Tag"]
    assert ev["Event"]["threat_level_id"] == "2"  # scanning (3), but a probe got a 2xx
    assert ev["Event"]["analysis"] == "2"


@pytest.mark.parametrize("fmt", ["csv", "json", "stix", "misp"])
def test_anonymised_leaks_nothing(log, fmt):
    out = run(log, "--format", fmt, "--anonymise", "--hostname", "mail.acme-corp.example").stdout
    for s in SECRETS:
        assert s not in out, f"{fmt} leaks {s}"
    for s in SCANNERS:
        assert s in out
    if fmt in ("csv", "json", "misp"):
        assert "?pass=&cmd=" in out
    if fmt == "stix":
        assert stix_check.check_stix(json.loads(out)) == []
    if fmt == "misp":
        assert stix_check.check_misp(json.loads(out)) == []


def test_many_clients_and_stdin(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = []
    for i in range(3000):
        lines.append(json.dumps(event(now - datetime.timedelta(seconds=i),
                                      f"81.{i % 250}.{i // 250}.9", f"/p{i % 40}.php")))
    r = subprocess.run([CTL, "report", "-", "--format", "stix"], input="\n".join(lines),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert stix_check.check_stix(b) == []
    assert sum(1 for o in b["objects"] if o["type"] == "indicator") == 3000


def test_campaigns(tmp_path):
    """Three scanners in three /24s probing one wordlist (plus noise of their own) are one
    campaign in every format; an unrelated scanner and two addresses of one /24 are in none."""
    now = datetime.datetime.now(datetime.timezone.utc)
    wordlist = [f"/wl/shell{i}.php" for i in range(10)]
    members = ["45.33.12.7", "81.2.3.4", "185.220.101.3"]
    lines, t = [], now - datetime.timedelta(hours=3)
    for k, c in enumerate(members):
        for path in wordlist + [f"/noise{k}.php"]:
            t += datetime.timedelta(seconds=7)
            lines.append(event(t, c, path + "?pass=hunter2"))
    for i in range(8):
        lines.append(event(t, "91.200.1.1", f"/other{i}.aspx"))
    for c in ("77.1.1.5", "77.1.1.6"):
        for i in range(6):
            lines.append(event(t, c, f"/same{i}.jsp"))
    log = tmp_path / "camp.log"
    log.write_text("\n".join(json.dumps(e) for e in lines) + "\n")

    out = run(log, "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0][-1] == "campaign" and rows[0][:2] == ["address", "family"]
    camp = {r[0]: r[-1] for r in rows[1:]}
    assert {a for a, v in camp.items() if v == "c1"} == set(members)
    assert all(camp[a] == "" for a in ("91.200.1.1", "77.1.1.5", "77.1.1.6"))

    rep = json.loads(run(log, "--format", "json").stdout)
    assert len(rep["campaigns"]) == 1
    c1 = rep["campaigns"][0]
    assert c1["id"] == "c1" and set(c1["clients"]) == set(members) and c1["prefixes"] == 3
    assert set(c1["shared_paths"]) == set(wordlist)
    assert {x["address"]: x["campaign"] for x in rep["clients"]}["91.200.1.1"] is None

    b = json.loads(run(log, "--format", "stix").stdout)
    assert stix_check.check_stix(b) == []
    camps = [o for o in b["objects"] if o["type"] == "campaign"]
    assert len(camps) == 1 and camps[0]["name"].endswith("c1")
    ind = {o["id"]: o for o in b["objects"] if o["type"] == "indicator"}
    src = [ind[o["source_ref"]]["pattern"] for o in b["objects"]
           if o["type"] == "relationship" and o["target_ref"] == camps[0]["id"]]
    assert sorted(src) == sorted(f"[ipv4-addr:value = '{m}']" for m in members)

    ev = json.loads(run(log, "--format", "misp").stdout)
    assert stix_check.check_misp(ev) == []
    tagged = {a["value"] for a in ev["Event"]["Attribute"]
              if a["type"] == "ip-src" and {"name": 'wsguard:campaign="c1"'} in a.get("Tag", [])}
    assert tagged == set(members)

    for fmt in ("csv", "json", "stix", "misp"):
        anon = run(log, "--format", fmt, "--anonymise").stdout
        assert "acme-corp" not in anon and "hunter2" not in anon
        assert "c1" in anon


# -- against a real httpd: the event log the module writes -----------------------------------------

import gzip  # noqa: E402
import shutil  # noqa: E402

import misp_feed_check  # noqa: E402

# Engine On, thresholds far above what the test sends: nothing is refused, so every probe reaches
# the event log (refused requests are not logged by the module today: see the report's notes).
ON_NOTHING_REFUSED = "WSGuardAllow none\nWSGuardThresholds 1000 2000\nWSGuardPrefixBan off"


def _probe_all(h, src, paths):
    codes = [h.status(p, src=src) for p in paths]
    assert set(codes) == {404}, codes  # scored and logged, never refused
    return len(paths)


def _wait_count(h, n):
    evs = []
    for _ in range(50):
        evs = h.wait_events(lambda e: e.get("event") in ("probe", "miss"), timeout=0.2)
        if len(evs) >= n:
            break
    assert len(evs) == n, (len(evs), n)


def test_rotated_gz_log_from_httpd(httpd, tmp_path):
    """The module's event log, rotated and gzip-compressed as logrotate does (events.jsonl.1.gz),
    then written afresh: a report of both files counts every request; the .gz alone its share."""
    h = httpd(wsguard=ON_NOTHING_REFUSED)
    h.start()
    src = "127.41.1.2"
    first = _probe_all(h, src, [f"/probe/a{i}.php" for i in range(7)])
    _wait_count(h, first)
    h.stop()
    rotated = h.event_log + ".1.gz"
    with open(h.event_log, "rb") as f, gzip.open(rotated, "wb") as g:
        shutil.copyfileobj(f, g)
    os.unlink(h.event_log)
    with open(rotated, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    h.start()
    second = _probe_all(h, src, [f"/probe/b{i}.php" for i in range(5)])
    _wait_count(h, second)

    both = json.loads(run("--log", rotated, "--log", h.event_log, "--format", "json").stdout)
    assert both["skipped_lines"] == 0
    c = {x["address"]: x for x in both["clients"]}
    assert c[src]["count"] == first + second == 12
    assert c[src]["distinct_paths"] == 12
    gz_only = json.loads(run(rotated, "--format", "json").stdout)
    assert gz_only["lines"] == first and gz_only["clients"][0]["count"] == first
    # a truncated .gz is an error, not a silent undercount
    cut = tmp_path / "cut.jsonl.2.gz"
    cut.write_bytes(open(rotated, "rb").read()[:40])
    r = run(cut, check=False)
    assert r.returncode == 1 and "gzip" in r.stderr


def test_campaign_engine_on_from_httpd(httpd, tmp_path):
    """Three /24s replaying one wordlist (each with noise of its own) against a server with the
    engine On form one campaign; an unrelated scanner is in none. Its STIX bundle validates, carries
    the ATT&CK references and keeps one reporter identity across reports; its MISP feed directory
    passes the feed check, and the same window reported again updates its event."""
    h = httpd(wsguard=ON_NOTHING_REFUSED)
    h.start()
    wordlist = [f"/probe/wl/shell{i}.php" for i in range(10)]
    members = ["127.42.1.2", "127.42.2.2", "127.42.3.2"]
    n = 0
    for k, src in enumerate(members):
        n += _probe_all(h, src, wordlist + [f"/probe/noise{k}.php"])
    n += _probe_all(h, "127.43.9.2", [f"/probe/other{i}.aspx" for i in range(8)])
    _wait_count(h, n)

    rep = json.loads(run(h.event_log, "--format", "json").stdout)
    assert len(rep["campaigns"]) == 1, rep["campaigns"]
    c1 = rep["campaigns"][0]
    assert set(c1["clients"]) == set(members) and c1["prefixes"] == 3
    assert c1["shared_path_count"] == len(wordlist)
    assert {x["address"]: x["count"] for x in rep["clients"]}["127.42.1.2"] == 11

    bundles = [json.loads(run(h.event_log, "--format", "stix", "--org", "ACME CERT").stdout)
               for _ in range(2)]
    for b in bundles:
        assert stix_check.check_stix(b) == []
        assert stix_check.attack_ids(b) == {"T1595.003", "T1505.003"}
        assert len([o for o in b["objects"] if o["type"] == "campaign"]) == 1
    assert stix_check.check_identity_stable(bundles) == []
    other = json.loads(run(h.event_log, "--format", "stix", "--org", "Other CERT").stdout)
    assert stix_check.check_identity_stable([bundles[0], other]) != []  # the check can fail

    feed = tmp_path / "feed"
    r = run(h.event_log, "--format", "misp-feed", "--output", feed, "--org", "ACME CERT")
    assert str(feed) in r.stdout
    assert misp_feed_check.check_feed(str(feed)) == []
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1))
    window = ["--since", since.strftime("%Y-%m-%d"), "--until", "2099-01-01"]
    for _ in range(2):   # the same window twice: one event, updated
        run(h.event_log, "--format", "misp-feed", "--output", feed, "--org", "ACME CERT", *window)
    man = json.loads((feed / "manifest.json").read_text())
    assert len(man) == 2 and len(list(feed.glob("*-*-*.json"))) == 2
    assert misp_feed_check.check_feed(str(feed)) == []
    for uuid in man:
        ev = json.loads((feed / f"{uuid}.json").read_text())["Event"]
        tagged = {a["value"] for a in ev["Attribute"]
                  if {"name": 'wsguard:campaign="c1"'} in a.get("Tag", [])}
        assert tagged == set(members)
        assert {a["type"] for a in ev["Attribute"]} == {"ip-src", "uri", "user-agent"}
        assert ev["Orgc"]["uuid"] == bundles[0]["objects"][1]["id"].split("--")[1]
    # the checker catches a hashes.csv that does not match the events
    with open(feed / "hashes.csv", "a") as f:
        f.write("0" * 32 + "," + next(iter(man)) + "\n")
    assert misp_feed_check.check_feed(str(feed)) != []
    assert run(h.event_log, "--format", "misp-feed", check=False).returncode == 2  # no --output


def test_stix_check_catches_what_consumers_reject(log):
    """The structural validator fails on each defect it exists for (a check that cannot fail
    proves nothing): a non-MITRE name or URL, a missing creator, a bad property name, a wrong TLP
    id, an identity that changes across reports."""
    good = json.loads(run(log, "--format", "stix").stdout)
    assert stix_check.check_stix(good) == []

    def broken(fn):
        b = json.loads(json.dumps(good))
        fn(b)
        return stix_check.check_stix(b)

    def ap(b, xid):
        return next(o for o in b["objects"] if o["type"] == "attack-pattern"
                    and o["external_references"][0]["external_id"] == xid)

    assert any("named 'Wordlist Scanning'" in e for e in broken(
        lambda b: ap(b, "T1595.003").update(name="Active Scanning: Wordlist Scanning")))
    assert any("is not MITRE's" in e for e in broken(
        lambda b: ap(b, "T1505.003")["external_references"][0].update(
            url="https://attack.mitre.org/techniques/T1505.003/")))
    assert any("without its mitre-attack" in e for e in broken(
        lambda b: ap(b, "T1505.003").update(external_references=[{"source_name": "x",
                                                                   "url": "https://x"}])))
    assert any("created_by_ref" in e for e in broken(
        lambda b: next(o for o in b["objects"] if o["type"] == "indicator").pop("created_by_ref")))
    assert any("property name" in e for e in broken(
        lambda b: next(o for o in b["objects"] if o["type"] == "indicator").update(Bad=1)))
    assert any("TLP" in e for e in broken(
        lambda b: b["objects"][0]["definition"].update(tlp="red")))
    assert any("Z" in e for e in broken(
        lambda b: next(o for o in b["objects"] if o["type"] == "sighting").update(
            first_seen="2026-11-25T10:00:00+00:00")))
    other = json.loads(run(log, "--format", "stix", "--org", "someone else").stdout)
    assert stix_check.check_identity_stable([good, good]) == []
    assert stix_check.check_identity_stable([good, other]) != []


def test_campaign_engine_on_default_thresholds_from_httpd(httpd):
    """With the default thresholds (429 from score 5, ban at 10) each member is rate-limited, then
    banned, halfway through the list: the 429 answers are still scored and logged, so the
    campaign forms from what was logged before the ban. (Requests refused by the ban are not in
    the event log yet, so counts may be short of what was sent: the glue's part of issue 11.)"""
    h = httpd(wsguard="WSGuardAllow none\nWSGuardPrefixBan off")
    h.start()
    wordlist = [f"/probe/wl/shell{i}.php" for i in range(10)]
    members = ["127.45.1.2", "127.45.2.2", "127.45.3.2"]
    for k, src in enumerate(members):
        codes = [h.status(p, src=src) for p in wordlist + [f"/probe/noise{k}.php"]]
        assert 403 in codes and 429 in codes, codes   # really refused
    h.wait_events(lambda e: e.get("event") == "ban" and e.get("client") == members[-1])
    rep = json.loads(run(h.event_log, "--format", "json").stdout)
    assert [set(c["clients"]) for c in rep["campaigns"]] == [set(members)]
    for c in rep["clients"]:
        assert c["events"].get("ban") == 1 and 5 <= c["count"] <= len(wordlist) + 1
    assert stix_check.check_stix(json.loads(run(h.event_log, "--format", "stix").stdout)) == []


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_refused_requests_counted_from_httpd(httpd, mpm):
    """A scanner that sent 40 probes, 35 of them refused while it was banned, is reported with
    count 40: the refusals reach the event log as aggregated "refused" lines (a count and the
    distinct paths, one line per child that refused it, not 35), and the request that crossed the threshold is
    counted once (its own "ban" event, not again in the aggregate). A campaign of three /24s that
    each got banned half-way through one wordlist still forms from what was refused."""
    h = httpd(mpm=mpm, wsguard="WSGuardAllow none\nWSGuardThresholds off 5\nWSGuardPrefixBan off")
    h.start()
    src = "127.44.1.2"
    codes = [h.status(f"/probe/r{i}.php", src=src) for i in range(40)]
    assert codes == [404] * 4 + [403] * 36, codes
    wordlist = [f"/probe/wl/shell{i}.php" for i in range(8)]
    members = ["127.45.1.2", "127.45.2.2", "127.45.3.2"]
    for src2 in members:
        assert [h.status(p, src=src2) for p in wordlist] == [404] * 4 + [403] * 4
    # a banned flood: a bounded number of lines whatever its length (one per child and minute)
    flood = "127.44.9.2"
    rc, out, err = h.ctl("ban", flood, "--for", "1h")
    assert rc == 0, out + err
    assert {h.status(f"/f{i % 50}.php", src=flood) for i in range(300)} == {403}
    h.stop()   # the children write what they counted when they exit
    fl = [e for e in h.events(client=flood) if e["event"] != "admin"]   # not wsguardctl's ban
    assert {e["event"] for e in fl} == {"refused"} and sum(e["count"] for e in fl) == 300
    assert len(fl) <= (16 if mpm == "prefork" else 4), len(fl)

    evs = [e for e in h.events() if e.get("client") == src]
    refused = [e for e in evs if e["event"] == "refused"]
    assert {e["event"] for e in evs} == {"probe", "ban", "refused"}, evs
    assert len(evs) - len(refused) == 5
    assert sum(e["count"] for e in refused) == 35, refused
    # aggregated: one line per child (per minute) that refused it, not one per request
    pids = {pid for client, pid, status, _ in h.access_entries() if client == src and status == 403}
    assert 1 <= len(refused) <= len(pids) and len(refused) < 35, (len(refused), len(pids))
    for e in refused:
        assert e["status"] == 403 and e["action"] == "ban" and e["since"] <= e["time"]
        assert 1 <= len(e["paths"]) <= 8 and e["path"] == e["paths"][0]

    rep = json.loads(run(h.event_log, "--format", "json").stdout)
    c = {x["address"]: x for x in rep["clients"]}
    assert c[src]["count"] == 40, c[src]
    assert c[src]["distinct_paths"] >= 5 + 8
    assert c[src]["events"]["refused"] == len(refused)
    for m in members:
        assert c[m]["count"] == 8 and c[m]["distinct_paths"] == 8, c[m]
    assert len(rep["campaigns"]) == 1 and set(rep["campaigns"][0]["clients"]) == set(members)
