"""Issue 12, hostile import files against the store of a running server: the /12-range feed banned
until 2999, numbers that overflow a time, a 200 KB line of commas, and more entries than the cap
each end with a clear error or a capped result, never a crash, and the server still records a new
scanner afterwards. Control bytes in a record's source reach the terminal escaped."""
import json
import os
import re
import time

SCAN = "WSGuardThresholds off 5\nWSGuardAllow none\nWSGuardMapSize 1M"
WEEK = 7 * 86400


def ctl_ok(h, *args, rc=0):
    code, out, err = h.ctl(*args, timeout=60)
    assert code == rc, "%s -> %d (want %d)\nstdout: %s\nstderr: %s" % (
        args, code, rc, out[-2000:], err[-2000:])
    assert "AddressSanitizer" not in err and "runtime error" not in err, err[-3000:]
    return out, err


def rows(h):
    out, _ = ctl_ok(h, "list", "--json")
    return {r["address"]: r for r in json.loads(out)}


def still_tracks(h, src):
    """A new scanner is recorded and banned by the server after the import."""
    assert h.status("/index.html", src="127.77.0.9") == 200
    sts = h.statuses(["/probe/t%d" % i for i in range(6)], src=src)
    assert sts[-1] == 403, sts
    r = rows(h)
    assert src in r and r[src]["ban_remaining_s"] > 0, sorted(r)[:20]


def test_slash12_feed_refused_and_share_capped(httpd, tmp_path):
    h = httpd(mpm="event", wsguard=SCAN)
    h.start()
    # the feed of the report: /12 ranges banned until 2999, 11 KB
    feed = tmp_path / "feed.json"
    lines = ['{"address":"%d.%d.0.0","prefix_len":12,"ban_until":"2999-01-01T00:00:00Z"},'
             % (a, b) for a in range(45, 60) for b in range(0, 256, 16)]
    feed.write_text("[\n" + "\n".join(lines).rstrip(",") + "\n]\n")
    assert os.path.getsize(feed) > 11000
    out, err = ctl_ok(h, "import", str(feed), rc=1)
    assert "a range wider than /16 refused: '45.0.0.0/12', skipped" in err
    assert "more skipped entries not shown" in err            # 240 errors, 100 shown
    assert "240 entries, 0 records" in out and "skipped 240 invalid" in out
    assert rows(h) == {}
    still_tracks(h, "127.78.0.2")

    # the same with /16 ranges: each is 256 /24 records, far more than a quarter of a 1M map
    feed16 = tmp_path / "feed16.txt"
    feed16.write_text("".join("%d.%d.0.0/16\n" % (a, b) for a in range(45, 50) for b in range(30)))
    out, err = ctl_ok(h, "import", str(feed16), "--for", "30d")
    m = re.search(r"(\d+) records refused: imported records may fill at most a quarter of the "
                  r"store \((\d+) of (\d+) records\)", err)
    assert m, err
    share = int(m.group(2))
    assert 100 < share < 2000
    r = rows(h)
    imported = [v for v in r.values() if "IMPORTED" in v["flags"]]
    assert len(imported) == share
    # --for 30d is capped at the ban max (7d)
    assert all(WEEK - 60 <= v["ban_remaining_s"] <= WEEK for v in imported)
    # a second feed adds nothing: the share is taken
    code, out, err = h.ctl("import", str(tmp_path / "feed16.txt"), "--source", "other")
    assert code == 0 and "0 new, 0 extended, %d kept" % share in out and "records refused" in err, (out, err)
    # a feed of only new records into a full share: nothing goes in, a failure
    other = tmp_path / "other.txt"
    other.write_text("".join("46.%d.0.0/16\n" % b for b in range(10)))
    out, err = ctl_ok(h, "import", str(other), rc=1)
    assert "0 new" in out and "2560 records refused" in err, (out, err)
    still_tracks(h, "127.78.1.2")


def test_overflowing_numbers(httpd, tmp_path):
    h = httpd(mpm="event", wsguard=SCAN)
    h.start()
    f = tmp_path / "overflow.json"
    f.write_text("[\n"
                 '{"address":"45.2.0.1","remaining_s":9223372036854775807},\n'
                 '{"address":"45.2.0.2","remaining_s":-1},\n'
                 '{"address":"45.2.0.3","remaining_s":1e300},\n'
                 '{"address":"45.2.0.4","remaining_s":"99999999999999999999"},\n'
                 '{"address":"45.2.0.5","remaining_s":99999999999999999999},\n'
                 '{"address":"45.2.0.6","remaining_s":-9223372036854775808},\n'
                 '{"address":"45.2.0.7","ban_until":"9999-12-31T23:59:59Z"},\n'
                 '{"address":"45.2.0.8","prefix_len":9223372036854775807}\n'
                 "]\n")
    out, err = ctl_ok(h, "import", str(f))
    assert "%s:3: bad \"remaining_s\" for '45.2.0.2', skipped" % f in err
    assert "%s:5: bad \"remaining_s\" for '45.2.0.4', skipped" % f in err
    assert "%s:6: invalid JSON" % f in err
    assert "%s:7: bad \"remaining_s\"" % f in err
    assert "%s:9: bad \"prefix_len\"" % f in err
    assert "3 ban ends capped at 604800s" in out
    r = rows(h)
    assert set(r) == {"45.2.0.1", "45.2.0.3", "45.2.0.7"}
    assert all(WEEK - 60 <= v["ban_remaining_s"] <= WEEK for v in r.values())
    # the same as a report document (one JSON document, not line-structured)
    g = tmp_path / "overflow-report.json"
    g.write_text(json.dumps({"clients": [{"address": "45.2.1.1", "remaining_s": 2 ** 63 - 1}]}))
    out, err = ctl_ok(h, "import", str(g), "--max", "2h")
    assert 7100 < rows(h)["45.2.1.1"]["ban_remaining_s"] <= 7200
    still_tracks(h, "127.78.2.2")


def test_long_comma_line(httpd, tmp_path):
    h = httpd(mpm="event", wsguard=SCAN)
    h.start()
    f = tmp_path / "commas.csv"
    f.write_text("address,ban_until\n" + "," * (200 * 1024) + "\n45.3.0.1,\n")
    t0 = time.time()
    out, err = ctl_ok(h, "import", str(f))
    assert time.time() - t0 < 10
    assert "%s:2: a line longer than 65536 bytes, skipped" % f in err
    assert set(rows(h)) == {"45.3.0.1"}
    # the comma line alone: nothing to import, a clear error
    g = tmp_path / "commas.txt"
    g.write_text("," * (200 * 1024) + "\n")
    out, err = ctl_ok(h, "import", str(g), rc=1)
    assert "%s:1: a line longer than 65536 bytes, skipped" % g in err
    # a file over the size limit is refused whole, without being parsed
    big = tmp_path / "big.txt"
    with open(big, "wb") as b:
        b.truncate(65 * 1024 * 1024)          # sparse: 65 MiB of NULs
    out, err = ctl_ok(h, "import", str(big), rc=1)
    assert "is larger than 64 MiB, nothing imported" in err
    still_tracks(h, "127.78.3.2")


def test_max_entries_and_escaped_source(httpd, tmp_path):
    h = httpd(mpm="event", wsguard=SCAN)
    h.start()
    f = tmp_path / "list.txt"
    f.write_text("".join("45.4.0.%d\n" % i for i in range(1, 31)))
    out, err = ctl_ok(h, "import", str(f), "--max-entries", "10", "--source", "evil\x1b[2J\r\n")
    assert "%s:11: more than 10 entries: this one and the rest are not imported" % f in err
    assert "20 entries beyond --max-entries 10 refused" in err
    assert "10 entries, 10 records: 10 new" in out
    assert "source 'evil\\x1b[2J\\x0d\\x0a'" in out and "\x1b" not in out
    assert len(rows(h)) == 10
    out, _ = ctl_ok(h, "show", "45.4.0.1")
    assert re.search(r"^source\s+evil\\x1b\[2J\\x0d\\x0a$", out, re.M), out
    assert "\x1b" not in out and "\r" not in out
    assert rows(h)["45.4.0.1"]["source"] == "evil\\x1b[2J\\x0d\\x0a"
    _, err = ctl_ok(h, "import", str(f), "--max-entries", "0", rc=2)
    assert "--max-entries needs a number" in err


# ---- issue 9: file-based sharing made safe --------------------------------------------------------

def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_import_keeps_local_and_manual_bans_and_an_unban_holds(httpd, tmp_path):
    """Two real servers (prefork A, event B) sharing by export files: B's import of A's export
    bans A's scanner there (IMPORTED); the operator unbans it on A; A importing B's export (older
    evidence) does not ban it again, nor relabel or shorten A's own local and manual bans, which
    keep their reasons; evidence newer than the unban bans it again; a plain list (no evidence)
    does not. No import bans longer than the server's longest ban (a STIX 30-day validity)."""
    a = httpd(mpm="prefork", wsguard=SCAN)
    b = httpd(mpm="event", wsguard=SCAN)
    a.start()
    b.start()
    s1, s2, m = "127.90.0.1", "127.90.0.2", "127.90.0.3"
    for s in (s1, s2):
        assert a.statuses(["/probe/t%d" % i for i in range(6)], src=s)[-1] == 403
    ctl_ok(a, "ban", m, "--for", "2h", "--reason", "by hand")
    before = rows(a)
    assert before[s1]["origin"] == "local" and before[m]["origin"] == "manual"

    exp_a = tmp_path / "a.json"
    exp_a.write_text(ctl_ok(a, "export", "--format", "json")[0])
    assert all("last_seen" in e for e in json.loads(exp_a.read_text()))
    out, _ = ctl_ok(b, "import", str(exp_a), "--allow-private", "--source", "web-a")
    assert "3 new" in out
    assert b.status("/", src=s1) == 403 and rows(b)[s1]["origin"] == "imported"
    exp_b = tmp_path / "b.json"
    exp_b.write_text(ctl_ok(b, "export", "--format", "json")[0])

    # the operator lifts s1 on A
    time.sleep(1.1)                                   # evidence times are whole seconds
    out, _ = ctl_ok(a, "unban", s1)
    assert a.status("/", src=s1) == 200
    # ...and B's export, made before, does not bring it back, nor touch A's own bans
    out, _ = ctl_ok(a, "import", str(exp_b), "--allow-private", "--source", "web-b")
    assert "0 new, 0 extended, 2 kept" in out and "1 unbanned by an operator since" in out, out
    assert a.status("/", src=s1) == 200
    after = rows(a)
    assert after[s1]["ban_remaining_s"] == 0 and "UNBANNED" in after[s1]["flags"]
    for k in (s2, m):
        assert after[k]["origin"] == before[k]["origin"] and after[k]["source"] == before[k]["source"]
        assert "IMPORTED" not in after[k]["flags"]
        assert after[k]["ban_remaining_s"] >= before[k]["ban_remaining_s"] - 5
    assert after[m]["source"] == "by hand"
    # a plain list says nothing of when: the unban holds
    plain = tmp_path / "list.txt"
    plain.write_text(s1 + "\n")
    out, _ = ctl_ok(a, "import", str(plain), "--allow-private")
    assert "1 unbanned by an operator since" in out and a.status("/", src=s1) == 200
    # a peer that saw it again after the unban: banned again, labelled as imported
    fresh = tmp_path / "fresh.json"
    time.sleep(1.1)
    fresh.write_text(json.dumps([{"address": s1, "remaining_s": 3600, "last_seen": _iso(time.time())}]))
    out, _ = ctl_ok(a, "import", str(fresh), "--allow-private", "--source", "web-c")
    assert "1 new" in out or "1 extended" in out, out
    r = rows(a)[s1]
    assert r["origin"] == "imported" and "UNBANNED" not in r["flags"] and r["source"] == "web-c"
    assert a.status("/", src=s1) == 403

    # a STIX report's 30-day validity is not a 30-day ban: the server's max= (7d) caps it, and
    # --max cannot raise the cap
    stix = tmp_path / "stix.json"
    stix.write_text(json.dumps({"type": "bundle", "id": "bundle--x", "objects": [
        {"type": "indicator", "pattern": "[ipv4-addr:value = '45.90.0.1']",
         "valid_from": _iso(time.time() - 60), "valid_until": _iso(time.time() + 30 * 86400)}]}))
    out, err = ctl_ok(b, "import", str(stix), "--max", "30d")
    assert "longer than the server's longest ban" in err and "capped at 604800s" in out
    assert WEEK - 60 <= rows(b)["45.90.0.1"]["ban_remaining_s"] <= WEEK
    a.check_error_log()
    b.check_error_log()


def test_import_capped_at_the_servers_own_max(httpd, tmp_path):
    """The cap is the running server's WSGuardBanTime max= (recorded in its state), not 7 days:
    a STIX report's 30-day validity becomes a 2-day ban on a server whose bans stop at 2 days,
    and --max cannot raise it."""
    h = httpd(mpm="event", wsguard=SCAN + "\nWSGuardBanTime 1h max=2d")
    h.start()
    stix = tmp_path / "stix.json"
    stix.write_text(json.dumps({"type": "bundle", "id": "bundle--y", "objects": [
        {"type": "indicator", "pattern": "[ipv4-addr:value = '45.91.0.1']",
         "valid_from": _iso(time.time() - 60), "valid_until": _iso(time.time() + 30 * 86400)}]}))
    out, err = ctl_ok(h, "import", str(stix), "--max", "30d")
    assert "longer than the server's longest ban" in err and "capped at 172800s" in out, (out, err)
    assert 2 * 86400 - 60 <= rows(h)["45.91.0.1"]["ban_remaining_s"] <= 2 * 86400
