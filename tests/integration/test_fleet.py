"""Issue 9: a fleet of two real httpd servers (A prefork, B event; own ports and state dirs) and
one real LAPI (lapi.py's fixture), each server a full member (machine and bouncer identities
made with cscli). What test_crowdsec_sync.py does not show already:
  - `cscli decisions delete` lifts a scanner's ban on both servers within 2 s, the one that
    pushed it included (the operator decided);
  - `wsguardctl unban` on A lifts it on B (the CLI queues the delete, A's sync sends it);
  - a `cscli decisions add` ban reaches both;
  - with the LAPI stopped both serve clean clients, B bans a scanner locally and says it is
    waiting in `wsguardctl stats`; the ban reaches A within 5 s of the LAPI's return;
  - a prefix ban on A reaches B as a Range: another address of that /24 is refused there."""
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from lapi import lapi, wait_for  # noqa: E402,F401  (the module-scoped LAPI fixture)

pytestmark = pytest.mark.usefixtures("lapi")

SYNC_LOGS = (r"AH19540", r"AH19541", r"AH19542", r"AH19543")


def secret(h, name, text):
    p = os.path.join(h.root, "conf", name)
    with open(p, "w") as f:
        f.write(text + "\n")
    os.chmod(p, 0o600)
    return p


def member(httpd, lapi, mpm, name, extra=""):
    h = httpd(mpm=mpm)
    pw = lapi.add_machine(name)
    key = lapi.add_bouncer(name + "-bouncer")
    h.write_config(wsguard="WSGuardAllow none\nWSGuardThresholds off 3\n" + extra +
                           "WSGuardCrowdSec %s machine=%s password-file=%s bouncer-key-file=%s "
                           "interval=1s" % (lapi.url, name, secret(h, "pw", pw),
                                            secret(h, "key", key)),
                   extra="<Location /wsguard-status>\n  SetHandler wsguard-status\n</Location>")
    h.expect_log(*SYNC_LOGS)
    h.start()
    assert h.wait_error_line(r"AH19547", timeout=3), "the sync task did not start"
    return h


@pytest.fixture
def fleet(httpd, lapi):
    tag = "%x" % (int(time.time() * 1000) & 0xffffff)
    return (member(httpd, lapi, "prefork", "wsg-fleet-a-" + tag),
            member(httpd, lapi, "event", "wsg-fleet-b-" + tag))


def ban_by_probes(h, src):
    for i in range(10):
        if h.status("/probe/shell%d.php" % i, src=src) == 403:
            return time.time()
    pytest.fail("%s never banned %s" % (h.mpm if hasattr(h, "mpm") else "the server", src))


def refused(h, src):
    return h.status("/", src=src) == 403


def served(h, src):
    return h.status("/", src=src) == 200


def ctl_json(h, *args):
    code, out, err = h.ctl(*args)
    assert code == 0, (args, out, err)
    return json.loads(out)


def lapi_has(lapi, ip):
    return any(d["value"] == ip for _, d in lapi.decisions())


def test_delete_and_unban_lift_the_ban_on_both(fleet, lapi):
    a, b = fleet
    # a scanner refused on A is refused on B within 2 s
    s1 = "127.83.0.5"
    assert served(b, s1)
    ban_by_probes(a, s1)
    took = wait_for(lambda: refused(b, s1), 4, step=0.05)
    assert took is not None and took < 2.0, "B refused A's scanner after %s s" % took
    # the operator deletes it centrally: lifted on both, A (which pushed it) included
    lapi.delete_decision(s1)
    t0 = time.time()
    assert wait_for(lambda: served(a, s1) and served(b, s1), 4, step=0.05) is not None
    lifted = time.time() - t0
    assert lifted < 2.0, "cscli decisions delete lifted it on both after %.2fs" % lifted
    assert ctl_json(a, "show", s1, "--json")["ban_remaining_s"] == 0

    # wsguardctl unban on A lifts it on B, and in the LAPI
    s2 = "127.83.0.6"
    ban_by_probes(a, s2)
    assert wait_for(lambda: refused(b, s2), 4, step=0.05) is not None
    rb = ctl_json(b, "show", s2, "--json")
    assert rb["origin"] == "crowdsec" and "CROWDSEC" in rb["flags"]
    assert rb["source"].startswith("mod_wsguard/"), rb          # the pusher's origin and tag
    code, out, err = a.ctl("unban", s2)
    assert code == 0 and "queued for the CrowdSec LAPI" in out, (out, err)
    t0 = time.time()
    assert wait_for(lambda: served(b, s2), 5, step=0.05) is not None, "B still refuses %s" % s2
    unban_took = time.time() - t0
    assert served(a, s2)
    assert not lapi_has(lapi, s2)
    st = ctl_json(a, "stats", "--json")["crowdsec"]
    assert st["unbans_sent"] >= 1 and st["backlog"] == 0 and st["push_failures"] == 0
    assert st["last_push"] and st["last_pull"]
    # several ticks later nothing brings it back on either server
    time.sleep(2.5)
    assert served(a, s2) and served(b, s2)

    # a cscli ban reaches both, labelled with cscli's machine
    s3 = "127.83.0.7"
    lapi.add_decision(s3, "1h")
    t0 = time.time()
    assert wait_for(lambda: refused(a, s3) and refused(b, s3), 4, step=0.05) is not None
    add_took = time.time() - t0
    assert add_took < 2.0
    ra = ctl_json(a, "list", "--json", "--banned")
    ra = {r["address"]: r for r in ra}
    assert ra[s3]["origin"] == "crowdsec" and ra[s3]["source"] == "cscli/wsg-test-admin"
    code, out, _ = a.ctl("list")
    assert "crowdsec:cscli/wsg-test-admin" in out and "ORIGIN" in out.splitlines()[0]
    # and the status page says so too
    r = b.get("/wsguard-status?json", src="127.0.0.1")
    doc = json.loads(r.body)
    top = {row["address"]: row for sec in ("alerts", "bans", "scoring") for row in doc[sec]}
    assert top[s3]["origin"] == "crowdsec" and top[s3]["source"] == "cscli/wsg-test-admin", top
    r = b.get("/wsguard-status", src="127.0.0.1")
    assert (b'<span class="origin crowdsec">crowdsec</span> <span class="dim">(cscli/wsg-test-admin)'
            in r.body), r.body[:2000]
    assert served(a, "127.83.0.8") and served(b, "127.83.0.8")
    sys.stderr.write("\nfleet: A->B %.2fs, cscli delete lifted on both %.2fs, unban on A lifted "
                     "on B %.2fs, cscli add on both %.2fs\n" % (took, lifted, unban_took, add_took))


def test_outage_both_serve_and_the_backlog_goes_on_return(fleet, lapi):
    a, b = fleet
    scanner = "127.84.0.5"
    # both pulled once: the LAPI is known good
    assert wait_for(lambda: ctl_json(a, "stats", "--json")["crowdsec"]["last_pull"]
                    and ctl_json(b, "stats", "--json")["crowdsec"]["last_pull"], 4) is not None
    lapi.stop()
    try:
        for h in (a, b):
            for i in range(5):
                assert served(h, "127.84.1.%d" % i)
        ban_by_probes(b, scanner)
        assert refused(b, scanner)
        assert served(a, scanner)                       # A cannot know yet
        # B says it, once, and shows the backlog
        assert b.wait_error_line(r"AH19540", timeout=4)
        st = wait_for(lambda: ctl_json(b, "stats", "--json")["crowdsec"]["backlog"] >= 1, 4)
        assert st is not None
        sj = ctl_json(b, "stats", "--json")["crowdsec"]
        assert sj["push_failures"] >= 1 and sj["push_error"]
        code, text, _ = b.ctl("stats")
        assert "crowdsec push      FAILING" in text and "crowdsec backlog" in text, text
        time.sleep(1.5)
        for h in (a, b):
            assert served(h, "127.84.2.1")
    finally:
        lapi.start()
    t0 = time.time()
    took = wait_for(lambda: refused(a, scanner), 8, step=0.05)
    assert took is not None, "B's local ban never reached A after the LAPI came back"
    took = time.time() - t0 if took is None else took
    assert took < 5.0, "B's ban reached A %.2fs after the LAPI's return" % took
    assert wait_for(lambda: ctl_json(b, "stats", "--json")["crowdsec"]["backlog"] == 0, 4) \
        is not None
    assert len(b.error_lines(r"AH19540")) == 1          # said once for the whole outage
    assert b.wait_error_line(r"AH19541", timeout=3)     # and that it works again
    sys.stderr.write("\nfleet outage: B's ban reached A %.2fs after the LAPI's return\n" % took)


def test_prefix_ban_reaches_b_as_a_range(httpd, lapi):
    """Two scanners of one /24 add up to a prefix ban on A, which then refuses every address of
    it: the prefix goes to the LAPI as a Range, so B refuses a third address it never saw."""
    tag = "%x" % (int(time.time() * 1000) & 0xffffff)
    a = member(httpd, lapi, "prefork", "wsg-pfx-a-" + tag, extra="WSGuardPrefixBan 4\n")
    b = member(httpd, lapi, "event", "wsg-pfx-b-" + tag, extra="WSGuardPrefixBan 4\n")
    first, second, third = "127.87.0.1", "127.87.0.2", "127.87.0.3"
    assert served(b, third)
    ban_by_probes(a, first)
    assert a.status("/probe/other.php", src=second) == 403      # the prefix reached 4
    assert refused(a, third)
    took = wait_for(lambda: refused(b, third), 4, step=0.05)
    assert took is not None, "B never refused another address of A's banned /24"
    got = {d["value"]: d for _, d in lapi.decisions()}
    assert got["127.87.0.0/24"]["scope"] == "Range", sorted(got)
    assert served(b, "127.87.1.3")                              # the next /24 is not in it
    sys.stderr.write("\nA's prefix ban refused on B after %.2fs\n" % took)


def test_pull_only_server_keeps_an_operator_unban_through_a_full_pull(httpd, lapi):
    """Decided (README): a server that only pulls cannot delete the decision, so its operator's
    unban stays local (said once, AH19549), and a full startup=true pull (here: the one a
    graceful restart makes) does not ban the address again; a decision made afterwards (new
    evidence) does."""
    tag = "%x" % (int(time.time() * 1000) & 0xffffff)
    h = httpd(mpm="event")
    key = lapi.add_bouncer("wsg-pull-only-" + tag)
    h.write_config(wsguard="WSGuardAllow none\nWSGuardCrowdSec %s bouncer-key-file=%s interval=1s"
                   % (lapi.url, secret(h, "key", key)))
    h.expect_log(*SYNC_LOGS)
    h.start()
    x = "127.88.0.5"
    lapi.add_decision(x, "1h")
    assert wait_for(lambda: refused(h, x), 4, step=0.05) is not None
    code, out, err = h.ctl("unban", x)
    assert code == 0 and "queued for the CrowdSec LAPI" in out, (out, err)
    assert served(h, x)
    assert h.wait_error_line(r"AH19549.*only pulls", timeout=4), "no AH19549 line"
    assert ctl_json(h, "stats", "--json")["crowdsec"]["backlog"] == 0
    assert lapi_has(lapi, x)                            # the LAPI still holds it
    h.graceful()                                        # a new sync: startup=true first
    assert h.wait_error_line(r"AH19547", timeout=3)
    time.sleep(2.5)
    assert served(h, x), "a full pull banned again what the operator unbanned"
    assert "UNBANNED" in ctl_json(h, "show", x, "--json")["flags"]
    lapi.delete_decision(x)
    lapi.add_decision(x, "2h")                          # new evidence, in a delta
    assert wait_for(lambda: refused(h, x), 4, step=0.05) is not None
    assert len(h.error_lines(r"AH19549")) == 1


def test_ranges_through_the_fleet(fleet, lapi):
    """Range bans both ways. A `cscli decisions add --range` wider than a /24 is stored as one
    range record on both servers (not expanded, not dropped): an address inside is refused,
    counted under reason "crowdsec", shown with its origin; `cscli decisions delete --range`
    lifts it. `wsguardctl ban CIDR` on A is pushed as a Range decision (scenario
    wsguard/manual) that B enforces; `wsguardctl unban CIDR` deletes it in the LAPI and on B.
    A manual address ban is pushed too (the operator's decision)."""
    a, b = fleet
    inside, outside = "127.77.3.4", "127.78.3.4"
    assert served(a, inside) and served(b, inside)
    lapi.add_range_decision("127.77.0.0/16", "1h")
    t0 = time.time()
    assert wait_for(lambda: refused(a, inside) and refused(b, inside), 5, step=0.05) is not None
    took = time.time() - t0
    assert served(a, outside) and served(b, outside)
    # every child of B looks at the range index within a second (WSG_STORE_RANGE_RECHECK)
    assert wait_for(lambda: refused(b, "127.77.250.1"), 1.5, step=0.05) is not None
    for h in (a, b):
        r = rows_of(h)["127.77.0.0/16"]
        assert r["origin"] == "crowdsec" and r["source"] == "cscli/wsg-test-admin", r
        assert "127.77.3.0/24" not in rows_of(h)                   # one record, not expanded
    doc = json.loads(b.get("/wsguard-status?json", src="127.0.0.1").body)
    row = {x["address"]: x for x in doc["bans"]}["127.77.0.0/16"]
    assert row["kind"] == "range" and row["origin"] == "crowdsec", row
    m = b.get("/wsguard-status?metrics", src="127.0.0.1").body.decode()
    assert any(ln.startswith('wsguard_refused_total{reason="crowdsec"}')
               and float(ln.split()[-1]) >= 2 for ln in m.splitlines()), m
    lapi.delete_range_decision("127.77.0.0/16")
    t0 = time.time()
    # served alone could be a child whose range index is a second old: the record gone too
    assert wait_for(lambda: "127.77.0.0/16" not in rows_of(a) and "127.77.0.0/16" not in rows_of(b)
                    and served(a, inside) and served(b, inside), 5, step=0.05) is not None
    lifted = time.time() - t0

    # a manual range on A reaches B as a Range decision; its unban lifts it there
    code, out, err = a.ctl("ban", "127.76.0.0/16", "--for", "1h", "--reason", "abuse desk")
    assert code == 0 and "queued for the CrowdSec LAPI" in out, (out, err)
    t0 = time.time()
    assert wait_for(lambda: refused(b, "127.76.9.9"), 5, step=0.05) is not None
    pushed = time.time() - t0
    got = {d["value"]: (al, d) for al, d in lapi.decisions()}
    al, d = got["127.76.0.0/16"]
    assert d["scope"] == "Range" and d["scenario"] == "wsguard/manual", d
    assert "abuse desk" in al.get("message", ""), al
    rb = rows_of(b)["127.76.0.0/16"]
    assert rb["origin"] == "crowdsec" and rb["source"] == "mod_wsguard/manual", rb
    assert rows_of(a)["127.76.0.0/16"]["origin"] == "manual"      # A's own stays manual
    time.sleep(1.5)                                                 # its own decision, pulled
    assert rows_of(a)["127.76.0.0/16"]["origin"] == "manual"
    code, out, err = a.ctl("unban", "127.76.0.0/16")
    assert code == 0 and "queued for the CrowdSec LAPI" in out, (out, err)
    assert wait_for(lambda: served(b, "127.76.9.9"), 5, step=0.05) is not None
    assert wait_for(lambda: "127.76.0.0/16" not in {d["value"] for _, d in lapi.decisions()},
                    5) is not None
    assert served(a, "127.76.9.9")

    # a manual address ban and a /24 are pushed too (Ip, Range)
    assert a.ctl("ban", "127.75.0.9", "--for", "1h")[0] == 0
    assert a.ctl("ban", "127.75.1.0/24", "--for", "1h")[0] == 0
    assert wait_for(lambda: refused(b, "127.75.0.9") and refused(b, "127.75.1.77"), 5,
                    step=0.05) is not None
    got = {d["value"]: d for _, d in lapi.decisions()}
    assert got["127.75.0.9"]["scope"] == "Ip" and got["127.75.1.0/24"]["scope"] == "Range", got
    assert a.ctl("unban", "127.75.1.0/24")[0] == 0
    assert wait_for(lambda: served(b, "127.75.1.77"), 5, step=0.05) is not None
    sys.stderr.write("\nfleet ranges: cscli --range on both %.2fs, lifted %.2fs, wsguardctl ban "
                     "CIDR on A refused on B %.2fs\n" % (took, lifted, pushed))


def rows_of(h):
    return {r["address"]: r for r in ctl_json(h, "list", "--json")}
