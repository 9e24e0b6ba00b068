"""Issue 5, wsguardctl's admin verbs (list, show, ban, unban, stats, top, purge) and import:
driven as an operator would, on a private state dir, and (test_live_*) beside a running httpd whose
workers must see a ban or unban at once. The import round trip: export json from one store, import
it into a second, export again: the same bans with the same ends.
"""
import csv
import io
import json
import os
import re
import subprocess
import time

import pytest

from wsg_httpd import wsguardctl_path

VERBS = ["list", "show", "ban", "unban", "stats", "top", "purge", "export", "import"]


class Ctl:
    def __init__(self, path, state):
        self.path = path
        self.dir = str(state)
        os.makedirs(self.dir, exist_ok=True)     # httpd's post_config makes it on a server

    def __call__(self, *args, rc=0, input=None):
        p = subprocess.run([self.path, "-d", self.dir] + [str(a) for a in args], input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        if rc is not None:
            assert p.returncode == rc, "%s -> %d (want %d)\nstdout: %s\nstderr: %s" % (
                args, p.returncode, rc, p.stdout[-3000:], p.stderr[-3000:])
        return p

    def json(self, *args):
        return json.loads(self(*args).stdout)

    def rows(self, *args):
        return {r["address"]: r for r in self.json("list", "--json", *args)}


@pytest.fixture
def ctl(wsguardctl, tmp_path):
    return Ctl(wsguardctl, tmp_path / "state")


@pytest.mark.parametrize("verb", VERBS)
def test_help(ctl, verb):
    p = ctl(verb, "--help")
    assert p.stdout.startswith("usage: wsguardctl %s" % verb), p.stdout
    assert len(p.stdout.splitlines()) >= 4          # a description, not just a synopsis
    p = ctl(verb, "--no-such-option", rc=2)
    assert "wsguardctl %s" % verb in p.stderr


def test_ban_list_show_unban(ctl):
    p = ctl("ban", "45.6.7.8", "--for", "90m", "--reason", "ssh brute force")
    assert p.stdout.strip() == "banned 45.6.7.8 for 1h30m (1 record)"
    table = ctl("list").stdout.splitlines()
    assert table[0].split() == ["ADDRESS/PREFIX", "SCORE", "HITS", "BAN-LEFT", "BANS", "FLAGS",
                                "LAST-SEEN", "ORIGIN"]
    row = table[1].split()
    assert row[0] == "45.6.7.8" and row[3] in ("1h30m", "1h29m") and row[4] == "1" and row[5] == "MANUAL"
    r = ctl.rows()["45.6.7.8"]
    assert r["flags"] == ["MANUAL"] and r["bans"] == 1 and r["source"] == "ssh brute force"
    assert 5390 <= r["ban_remaining_s"] <= 5400
    show = ctl("show", "45.6.7.8").stdout
    for field in ("address", "prefix", "first seen", "last seen", "score now", "hits", "distinct",
                  "misses", "banned", "bans", "flags", "recent rules", "source"):
        assert re.search(r"^%s\s" % field, show, re.M), (field, show)
    assert re.search(r"^prefix\s+45\.6\.7\.0/24: not tracked$", show, re.M)
    assert re.search(r"^source\s+ssh brute force$", show, re.M)
    sj = ctl.json("show", "45.6.7.8", "--json")
    assert sj["prefix"] == "45.6.7.0/24" and sj["prefix_banned"] is False and sj["rules"] == []

    p = ctl("unban", "45.6.7.8")
    assert p.stdout.strip() == "unbanned 45.6.7.8 (1 record)"
    assert ctl.json("list", "--json", "--banned") == []
    sj = ctl.json("show", "45.6.7.8", "--json")
    assert sj["bans"] == 1 and sj["ban_remaining_s"] == 0 and sj["score"] == 0   # history kept
    show = ctl("show", "45.6.7.8").stdout
    assert re.search(r"^banned\s+no, unbanned by an operator at 20\d\d-", show, re.M), show
    assert re.search(r"^flags\s+UNBANNED$", show, re.M) and sj["unbanned_at"] and sj["origin"] is None
    ctl("ban", "45.6.7.8", "--for", "1m")
    assert ctl.rows()["45.6.7.8"]["bans"] == 2
    # not there
    p = ctl("unban", "45.99.99.99", rc=1)
    assert "not in the store" in p.stderr
    p = ctl("show", "45.99.99.99", rc=1)
    assert "not in the store" in p.stderr


def test_ban_default_length_escalates(ctl):
    ctl("ban", "45.6.7.9")
    first = ctl.rows()["45.6.7.9"]["ban_remaining_s"]
    ctl("ban", "45.6.7.9")
    second = ctl.rows()["45.6.7.9"]["ban_remaining_s"]
    assert first > 0 and second > first      # the module's escalating ban time (ban n+1 longer)


def test_ban_prefix_and_cidrs(ctl):
    ctl("ban", "45.7.8.0/24", "--for", "1h")
    ctl("ban", "2001:db8:7::/64", "--for", "1h")
    rows = ctl.rows()
    assert rows["45.7.8.0/24"]["is_prefix"] and rows["45.7.8.0/24"]["prefix_len"] == 24
    assert rows["2001:db8:7::/64"]["prefix_len"] == 64
    # a member without its own record: show says so and names the banned prefix
    p = ctl("show", "45.7.8.9", rc=1)
    assert "its prefix 45.7.8.0/24 is: score 0.00, banned" in p.stderr
    # 45.7.8.9/24 means the prefix record
    assert ctl.json("show", "45.7.8.9/24", "--json")["address"] == "45.7.8.0/24"
    # a /30 is four address records; a CIDR wider than a /24 is a range ban: one record, never
    # expanded into its members
    assert "(4 records)" in ctl("ban", "45.8.0.4/30", "--for", "1h").stdout
    assert "(a range: 1 record)" in ctl("ban", "45.9.4.0/22", "--for", "1h").stdout
    assert "(a range: 1 record)" in ctl("ban", "2001:db8:9::/96", "--for", "1h").stdout
    rows = ctl.rows()
    assert {"45.8.0.4", "45.8.0.7", "45.9.4.0/22", "2001:db8:9::/96"} <= set(rows)
    assert rows["45.9.4.0/22"]["prefix_len"] == 22 and "45.9.4.0/24" not in rows
    assert "(a range: 1 record)" in ctl("ban", "10.0.0.0/8", "--for", "1h").stdout
    p = ctl("ban", "0.0.0.0/4", rc=2)
    assert "shorter than /8" in p.stderr
    p = ctl("ban", "not-an-ip", rc=2)
    assert "'not-an-ip' is not an IP address or CIDR" in p.stderr
    p = ctl("ban", "45.1.1.1", "--for", "soon", rc=2)
    assert "--for needs a duration" in p.stderr
    # unban of an address inside a banned prefix points at the prefix
    ctl("ban", "45.7.8.3", "--for", "1h")
    p = ctl("unban", "45.7.8.3")
    assert "its prefix 45.7.8.0/24 is still banned" in p.stdout
    ctl("unban", "45.9.4.0/22")
    assert not any(a.startswith("45.9.") for a in ctl.rows("--banned"))


def test_stats_top(ctl):
    for i in range(12):
        ctl("ban", "45.10.0.%d" % i, "--for", "%dm" % (10 + i))
    ctl("ban", "2001:db8:10::1", "--for", "1h")
    ctl("ban", "45.11.0.0/24", "--for", "1h")
    ctl("unban", "45.10.0.0")
    st = ctl.json("stats", "--json")
    assert st["records"] == 14 and st["addresses"] == 13 and st["prefixes"] == 1
    assert st["ipv4"] == 13 and st["ipv6"] == 1
    assert st["banned_addresses"] == 12 and st["banned_prefixes"] == 1 and st["manual_bans"] == 13
    assert st["purgeable"] == 0          # the unbanned one is kept, flagged (an import's guard)
    assert st["crowdsec_bans"] == 0 and st["crowdsec"] is None     # no WSGuardCrowdSec here
    text = ctl("stats").stdout
    assert re.search(r"^banned now\s+12 addresses, 1 prefixes \(13 manual, 0 imported, 0 crowdsec\)$",
                     text, re.M)
    assert re.search(r"^crowdsec sync\s+not configured", text, re.M)
    top = ctl("top", "-n", "3").stdout.splitlines()
    assert len(top) == 4 and top[0].startswith("ADDRESS/PREFIX")
    assert len(ctl.json("top", "-n", "5", "--json")) == 5
    ctl("top", "-n", "0", rc=2)
    # list is sorted by score, then by the longest ban left
    lst = ctl.json("list", "--json", "--banned")
    rem = [r["ban_remaining_s"] for r in lst]
    assert rem == sorted(rem, reverse=True)


def test_purge(ctl):
    ctl("ban", "45.12.0.1", "--for", "1h")
    ctl("ban", "45.12.0.2", "--for", "1h")
    assert ctl("purge").stdout.strip() == "purged 0 records"
    ctl("unban", "45.12.0.1")
    # an operator's unban is remembered for the longest ban (WSGuardBanTime max=, 7 days by
    # default) so that a peer's older export does not undo it: not purged before that
    assert ctl("purge").stdout.strip() == "purged 0 records"
    assert "UNBANNED" in ctl.rows()["45.12.0.1"]["flags"]
    ctl("show", "45.12.0.2")
    assert ctl("purge", "--halflife", "1s").stdout.strip() == "purged 0 records"   # still banned


# ---- import ---------------------------------------------------------------------------------------

def test_import_roundtrip(wsguardctl, tmp_path):
    a = Ctl(wsguardctl, tmp_path / "a")
    b = Ctl(wsguardctl, tmp_path / "b")
    for i in range(50):
        a("ban", "45.13.%d.%d" % (i // 10, i), "--for", "%ds" % (3600 + 37 * i))
    a("ban", "45.14.0.0/24", "--for", "2h")
    a("ban", "2a05:d000:13::1", "--for", "3h")
    a("ban", "2a05:d000:14::/64", "--for", "30m")
    exp = tmp_path / "peer-a.json"
    exp.write_text(a("export", "--format", "json").stdout)
    p = b("import", str(exp))
    assert "53 entries, 53 records: 53 new, 0 extended, 0 kept" in p.stdout
    assert "source 'peer-a.json'" in p.stdout

    def key(data):
        return sorted((e["address"], e["prefix_len"], e["ban_until"]) for e in data)
    first = json.loads(exp.read_text())
    again = json.loads(b("export", "--format", "json").stdout)
    assert key(again) == key(first)
    assert {e["origin"] for e in again} == {"imported"}
    assert {e["source"] for e in again} == {"peer-a.json"}
    rows = b.rows()
    assert rows["45.14.0.0/24"]["flags"] == ["IMPORTED"]
    # importing the same file again changes nothing and does not escalate
    p = b("import", str(exp), "--source", "peer-a")
    assert "0 new, 0 extended, 53 kept" in p.stdout
    assert {r["bans"] for r in b.rows().values()} == {1}
    # an operator's ban in force is kept as it is, longer or shorter: never relabelled,
    # lengthened or given the peer's name for a reason (issue 9)
    c = Ctl(wsguardctl, tmp_path / "c")
    c("ban", "45.13.0.0", "--for", "10d")
    c("ban", "45.13.0.1", "--for", "1m", "--reason", "by hand")
    p = c("import", str(exp), "--source", "peer-a")
    assert "51 new, 0 extended, 2 kept" in p.stdout
    rc = c.rows()
    assert rc["45.13.0.0"]["flags"] == ["MANUAL"] and rc["45.13.0.0"]["ban_remaining_s"] > 86400 * 9
    assert rc["45.13.0.1"]["flags"] == ["MANUAL"] and rc["45.13.0.1"]["source"] == "by hand"
    assert rc["45.13.0.1"]["ban_remaining_s"] <= 60 and rc["45.13.0.1"]["origin"] == "manual"


def test_import_aggregated_export(wsguardctl, tmp_path):
    """A peer's --aggregate export comes back as exactly the records it stood for."""
    a = Ctl(wsguardctl, tmp_path / "a")
    b = Ctl(wsguardctl, tmp_path / "b")
    for i in range(8):
        a("ban", "45.15.0.%d" % i, "--for", "1h")
    exp = tmp_path / "agg.json"
    exp.write_text(a("export", "--format", "json", "--aggregate").stdout)
    assert [(e["address"], e["prefix_len"]) for e in json.loads(exp.read_text())] == [("45.15.0.0", 29)]
    b("import", str(exp))
    assert sorted(b.rows()) == sorted("45.15.0.%d" % i for i in range(8))


def test_import_plain_with_bad_lines(ctl, tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("# blocklist\n45.16.0.1\n\nbogus\n45.16.0.0/24   # a comment\n2a05:d000:16::9\n"
                 "45.16.0.300\n10.1.2.3\n")
    p = ctl("import", str(f), "--for", "2h", "--source", "blocklist")
    assert "%s:4: not an IP address or CIDR: 'bogus', skipped" % f in p.stderr
    assert "%s:7: not an IP address or CIDR: '45.16.0.300', skipped" % f in p.stderr
    assert "%s:8: 10.1.2.3 is a private" % f in p.stderr
    assert "6 entries, 3 records: 3 new" in p.stdout and "skipped 2 invalid, 0 expired, 1 private" in p.stdout
    rows = ctl.rows()
    assert set(rows) == {"45.16.0.1", "45.16.0.0/24", "2a05:d000:16::9"}
    assert all(7190 <= r["ban_remaining_s"] <= 7200 for r in rows.values())
    assert rows["45.16.0.1"]["source"] == "blocklist" and rows["45.16.0.1"]["flags"] == ["IMPORTED"]
    ctl("import", str(f), "--allow-private", "--for", "1h")
    assert "10.1.2.3" in ctl.rows()
    # nothing valid at all: failure
    g = tmp_path / "junk.txt"
    g.write_text("junk\n")
    ctl("import", str(g), rc=1)


def test_import_csv_from_report(ctl, tmp_path):
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3000))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["address", "family", "first_seen", "last_seen", "count", "paths", "shell_hit",
                "shell_paths", "statuses", "tags", "rules", "user_agents", "sample_paths",
                "max_score", "ban_until"])
    w.writerow(["45.17.0.1", "ipv4", "", "", "3", "3", "no", "", "404:3", "php-shell", "9001",
                "curl, \"quoted\"", "/a.php | /b.php", "12.00", until])
    w.writerow(["45.17.0.2", "ipv4", "", "", "1", "1", "no", "", "404:1", "", "", "", "", "1.00", ""])
    w.writerow(["not-an-address", "ipv4"])
    f = tmp_path / "report.csv"
    f.write_text(buf.getvalue())
    p = ctl("import", str(f), "--for", "10m")
    assert "%s:4: not an IP address or CIDR: 'not-an-address'" % f in p.stderr
    rows = ctl.rows()
    assert 2990 <= rows["45.17.0.1"]["ban_remaining_s"] <= 3000     # ban_until from the CSV
    assert 590 <= rows["45.17.0.2"]["ban_remaining_s"] <= 600        # --for
    assert rows["45.17.0.1"]["source"] == "report.csv"


def test_import_stix_and_misp(ctl, tmp_path):
    until = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 4000))
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "identity", "id": "identity--1", "name": "peer"},
        {"type": "indicator", "id": "indicator--1", "pattern_type": "stix",
         "pattern": "[ipv4-addr:value = '45.18.0.1']", "valid_from": "2020-01-01T00:00:00Z",
         "valid_until": until},
        {"type": "indicator", "id": "indicator--2", "pattern_type": "stix",
         "pattern": "[ipv6-addr:value = '2a05:d000:18::1'] OR [ipv4-addr:value = '45.18.0.0/24']",
         "valid_from": "2020-01-01T00:00:00Z"},
    ]}
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps(bundle, indent=2))
    ctl("import", str(f), "--source", "csirt")
    rows = ctl.rows()
    assert set(rows) == {"45.18.0.1", "2a05:d000:18::1", "45.18.0.0/24"}
    assert 3990 <= rows["45.18.0.1"]["ban_remaining_s"] <= 4000
    assert rows["45.18.0.1"]["source"] == "csirt"
    misp = {"Event": {"info": "x", "Attribute": [
        {"type": "ip-src", "value": "45.19.0.1"}, {"type": "url", "value": "/x.php"}]}}
    g = tmp_path / "misp.json"
    g.write_text(json.dumps(misp))
    ctl("import", str(g))
    assert "45.19.0.1" in ctl.rows()


def test_import_json_damaged_line_and_times(ctl, tmp_path):
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    far = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
    f = tmp_path / "peer.json"
    f.write_text("[\n"
                 '  {"address":"45.20.0.1","prefix_len":32,"ban_until":"%s","remaining_s":5},\n\n'
                 '  {"address":"45.20.0.2","prefix_len":32,"remaining_s":900},\n'
                 '  {"address":"45.20.0.3","prefix_len":32,"ban_unt\n'
                 '  {"address":"45.20.0.4","prefix_len":32,"ban_until":"%s"},\n'
                 '  {"address":"45.20.0.5","prefix_len":32,"ban_until":"yesterday"}\n'
                 "]\n" % (past, far))
    p = ctl("import", str(f), "--max", "1d")
    assert "%s:5: invalid JSON" % f in p.stderr          # line numbers count the blank line 3
    assert "%s:7: bad \"ban_until\" for '45.20.0.5'" % f in p.stderr
    assert "skipped 2 invalid, 1 expired, 0 private" in p.stdout
    rows = ctl.rows()
    assert set(rows) == {"45.20.0.2", "45.20.0.4"}
    assert 890 <= rows["45.20.0.2"]["ban_remaining_s"] <= 900
    assert 86390 <= rows["45.20.0.4"]["ban_remaining_s"] <= 86400          # --max
    # not line-structured and broken: one error with line:column, nothing imported
    g = tmp_path / "broken.json"
    g.write_text('{"type": "bundle",\n "objects": [}\n')
    p = ctl("import", str(g), rc=1)
    assert re.search(r"broken\.json:2:\d+: invalid JSON", p.stderr), p.stderr
    # dry run writes nothing; stdin works
    h = Ctl(ctl.path, os.path.join(os.path.dirname(ctl.dir), "h"))
    p = h("import", "-", "--dry-run", input="45.21.0.1\n")
    assert p.stdout.startswith("would import <stdin>")
    h("import", "-", input="45.21.0.1\n")
    assert h.rows()["45.21.0.1"]["source"] == "<stdin>"


# ---- beside a running httpd -----------------------------------------------------------------------

SCAN = "WSGuardThresholds off 5\nWSGuardAllow none"


def test_live_ban_unban_seen_by_workers(httpd):
    """ban/unban/list against the store of a running server: every worker sees the change on the
    next request, and the CLI sees the module's scores."""
    h = httpd(mpm="event", wsguard=SCAN)
    h.start()
    assert h.status("/index.html", src="127.9.0.9") == 200
    rc, out, err = h.ctl("ban", "127.9.0.9", "--for", "10m", "--reason", "live test")
    assert rc == 0, err
    assert [h.status("/index.html", src="127.9.0.9") for _ in range(6)] == [403] * 6
    rc, out, err = h.ctl("unban", "127.9.0.9")
    assert rc == 0, err
    assert [h.status("/index.html", src="127.9.0.9") for _ in range(6)] == [200] * 6
    # a prefix ban reaches every address of the /24
    assert h.ctl("ban", "127.9.5.0/24", "--for", "10m")[0] == 0
    assert h.status("/index.html", src="127.9.5.3") == 403
    assert h.status("/index.html", src="127.9.6.3") == 200
    # the module's own scores and bans show up, highest score first
    assert h.statuses(["/probe/x%d" % i for i in range(3)], src="127.9.0.2") == [404] * 3
    assert h.statuses(["/probe/y%d" % i for i in range(6)], src="127.9.0.3")[-1] == 403
    rc, out, err = h.ctl("list", "--json")
    rows = json.loads(out)
    addrs = [r["address"] for r in rows]
    assert addrs.index("127.9.0.3") < addrs.index("127.9.0.2")
    r2 = [r for r in rows if r["address"] == "127.9.0.2"][0]
    assert 2.5 < r2["score"] <= 3.0 and r2["hits"] == 3 and r2["ban_remaining_s"] == 0
    rc, out, err = h.ctl("show", "127.9.0.2")
    assert re.search(r"^recent rules\s+\d+", out, re.M), out
    # unban lifts a ban the module set
    assert h.status("/index.html", src="127.9.0.3") == 403
    assert h.ctl("unban", "127.9.0.3")[0] == 0
    assert h.status("/index.html", src="127.9.0.3") == 200
    # what this server shares, a peer imports: every report format names the scanner
    for fmt in ("json", "csv", "stix", "misp"):
        rc, out, err = h.ctl("report", "--log", h.event_log, "--format", fmt)
        assert rc == 0, err
        peer = Ctl(wsguardctl_path(), os.path.join(h.root, "peer-" + fmt))
        p = peer("import", "-", "--source", "peer", "--allow-private", "--for", "1h", input=out)
        assert "127.9.0.3" in peer.rows(), (fmt, p.stdout, p.stderr)
