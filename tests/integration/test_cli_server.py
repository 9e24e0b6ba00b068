"""wsguardctl speaks for the running server (issue 10): the policy the module records in the state
(ban length, half-life of scores, purge), read-only verbs for members of WSGuardStateGroup without
root, the audit trail of ban/unban/import/purge, and range bans (any CIDR, one record)."""
import grp
import json
import os
import pwd
import struct
import subprocess
import threading
import time

import pytest

from wsg_httpd import wsguardctl_path, request

SCAN = "WSGuardThresholds off 5\nWSGuardAllow none"
STATUS = "<Location /wsguard-status>\n  SetHandler wsguard-status\n  Require ip 127.0.0.1\n</Location>"
REC_EPOCH = 1704067200          # wsg_store.c: packed times count from 2024-01-01


def forge_record(h, addr, score, age_s):
    """Writes the packed (version 2) record of an IPv4 address as wsg_store.c lays it out: a score
    of `score` as of `age_s` seconds ago, last seen then; with mdb_load, as the state's owner, into
    the live environment. The way to have a record of some age without waiting for it."""
    now = time.time()
    t = int(now - age_s)
    key = bytes([0x14, 32]) + bytes(int(x) for x in addr.split("."))
    ms = int((now - age_s - REC_EPOCH) * 1000)
    val = bytes([2, 0]) + struct.pack("<HIII", 0, 1, t - REC_EPOCH, t - REC_EPOCH)
    val += (0).to_bytes(6, "little") + ms.to_bytes(6, "little")       # ban_until, score_time
    val += struct.pack("<Hf", 1, score) + (0).to_bytes(8, "little") + bytes([0])
    assert len(val) == 43
    dump = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n %s\n %s\nDATA=END\n" % (
        key.hex(), val.hex())
    owner = pwd.getpwuid(os.stat(h.state_dir).st_uid).pw_name
    p = subprocess.run(["runuser", "-u", owner, "--", "mdb_load", h.state_dir], input=dump,
                       text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 0, p.stderr


def status_scores(h):
    r = request(h.port, "/wsguard-status?json", src="127.0.0.1")
    assert r.status == 200, r
    doc = json.loads(r.body)
    return {row["address"]: row["score"]
            for sec in ("alerts", "bans", "scoring") for row in doc[sec]}


def rows(h, *args):
    rc, out, err = h.ctl("list", "--json", *args)
    assert rc == 0, err
    return {r["address"]: r for r in json.loads(out)}


def test_cli_follows_server_policy(httpd):
    """WSGuardBanTime 2h and WSGuardScoreHalfLife 10m: ban bans for 2h, list's scores are the
    status page's, stats says whose policy it is, purge keeps what the server still scores."""
    h = httpd(mpm="event", wsguard=SCAN + "\nWSGuardBanTime 2h\nWSGuardScoreHalfLife 10m",
              extra=STATUS)
    h.start()
    rc, out, err = h.ctl("ban", "127.9.1.1")
    assert rc == 0, err
    assert "for 2h00m" in out, out
    left = rows(h)["127.9.1.1"]["ban_remaining_s"]
    assert 7190 <= left <= 7200, left
    # an explicit option still wins
    assert "for 15m" in h.ctl("ban", "127.9.1.2", "--for", "15m")[1]
    # import's default length is the server's ban time too
    feed = os.path.join(h.root, "feed.txt")
    with open(feed, "w") as f:
        f.write("45.20.0.1\n")
    assert h.ctl("import", feed)[0] == 0
    assert 7190 <= rows(h)["45.20.0.1"]["ban_remaining_s"] <= 7200
    # a score of 8 ten minutes ago is 4 now with the server's half-life (7.1 with the default 1h)
    forge_record(h, "127.9.3.3", 8.0, 600)
    server = status_scores(h)["127.9.3.3"]
    cli = rows(h)["127.9.3.3"]["score"]
    assert abs(server - 4.0) < 0.05, server
    assert abs(cli - server) < 0.05, (cli, server)
    # the server's own scores too
    assert h.statuses(["/probe/x%d" % i for i in range(3)], src="127.9.0.2") == [404] * 3
    assert abs(rows(h)["127.9.0.2"]["score"] - status_scores(h)["127.9.0.2"]) < 0.05
    # --halflife overrides the record
    assert rows(h, "--halflife", "1h")["127.9.3.3"]["score"] > 7.0
    rc, out, err = h.ctl("stats", "--json")
    st = json.loads(out)
    assert st["policy"] == "server" and st["halflife_s"] == 600 and st["ban_time_s"] == 7200, st
    assert "the server's" in h.ctl("stats")[1]
    rc, out, err = h.ctl("purge")
    assert rc == 0, err
    assert {"127.9.3.3", "127.9.0.2", "127.9.1.1"} <= set(rows(h))


def test_purge_keeps_what_a_long_half_life_still_scores(httpd):
    """A score of 2 twelve hours ago: gone under the default 1h half-life, 1.41 under the
    server's 1d. purge must keep it (the status page still shows it)."""
    h = httpd(mpm="prefork", wsguard=SCAN + "\nWSGuardScoreHalfLife 1d", extra=STATUS)
    h.start()
    forge_record(h, "127.9.5.5", 2.0, 12 * 3600)
    assert abs(status_scores(h)["127.9.5.5"] - 1.414) < 0.01
    rc, out, err = h.ctl("purge")
    assert rc == 0 and out.strip() == "purged 0 records", (out, err)
    assert "127.9.5.5" in rows(h)
    # without a recorded policy (the module's defaults, as stats says), it would have gone
    assert "purged 1 record" in h.ctl("purge", "--halflife", "1h")[1]


def test_no_policy_recorded_says_defaults(wsguardctl, tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o750)
    p = subprocess.run([wsguardctl, "-d", str(d), "ban", "45.1.1.1"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0 and "for 1h00m" in p.stdout, p.stderr
    p = subprocess.run([wsguardctl, "-d", str(d), "stats"], stdout=subprocess.PIPE, text=True)
    assert "the module's defaults (no server has recorded its policy" in p.stdout, p.stdout


# ---- group readers ------------------------------------------------------------------------------

GROUP, READER, OUTSIDER = "wsgtest-rd", "wsgtest-in", "wsgtest-out"


@pytest.fixture(scope="module")
def test_users():
    subprocess.run(["groupadd", "-f", GROUP], check=True)
    for user, extra in ((READER, ["-G", GROUP]), (OUTSIDER, [])):
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-s", "/usr/sbin/nologin"]
                           + extra + [user], check=True)
    yield
    for user in (READER, OUTSIDER):
        subprocess.run(["userdel", user], check=False)
    subprocess.run(["groupdel", GROUP], check=False)


def ctl_as(user, h, *args):
    cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--init-groups", "--",
           wsguardctl_path(), "-d", h.state_dir] + list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


def test_group_member_reads_without_root(httpd, test_users):
    h = httpd(mpm="event", wsguard=SCAN + "\nWSGuardStateGroup " + GROUP)
    h.start()
    gid = grp.getgrnam(GROUP).gr_gid
    data = os.stat(os.path.join(h.state_dir, "data.mdb"))
    sdir = os.stat(h.state_dir)
    lock = os.stat(os.path.join(h.state_dir, "lock.mdb"))
    assert data.st_gid == gid and data.st_mode & 0o777 == 0o640
    assert sdir.st_gid == gid and sdir.st_mode & 0o777 == 0o750
    assert not lock.st_mode & 0o022
    assert h.ctl("ban", "127.9.8.8", "--for", "1h")[0] == 0
    assert h.statuses(["/probe/a%d" % i for i in range(3)], src="127.9.0.4") == [404] * 3
    p = ctl_as(READER, h, "list", "--json")
    assert p.returncode == 0, p.stderr
    got = {r["address"]: r for r in json.loads(p.stdout)}
    assert got["127.9.8.8"]["ban_remaining_s"] > 3500 and got["127.9.0.4"]["hits"] == 3
    for verb in (["show", "127.9.8.8"], ["stats"], ["top"], ["export", "--format", "plain"]):
        p = ctl_as(READER, h, *verb)
        assert p.returncode == 0, (verb, p.stderr)
    assert "127.9.8.8" in ctl_as(READER, h, "export", "--format", "plain").stdout
    # reads stand while the server writes (a lock-free reader checks each read, retries)
    stop = []

    def scan():
        k = 0
        while not stop:
            h.status("/probe/c%d" % k, src="127.9.0.5")
            k += 1
    t = threading.Thread(target=scan)
    t.start()
    try:
        for _ in range(10):
            p = ctl_as(READER, h, "list", "--json")
            assert p.returncode == 0, p.stderr
            assert "127.9.8.8" in {r["address"] for r in json.loads(p.stdout)}
    finally:
        stop.append(1)
        t.join()
    # never a writer
    p = ctl_as(READER, h, "ban", "127.9.8.9")
    assert p.returncode == 1 and "writes the state" in p.stderr, p.stderr
    # outside the group: refused, saying why
    p = ctl_as(OUTSIDER, h, "list")
    assert p.returncode == 1
    assert "WSGuardStateGroup" in p.stderr and "Permission denied" in p.stderr, p.stderr


# ---- audit trail --------------------------------------------------------------------------------

def admin_events(path):
    out = []
    with open(path) as f:
        for ln in f:
            ev = json.loads(ln)
            if ev["event"] == "admin":
                out.append(ev)
    return out


def test_cli_actions_in_the_event_log(httpd, tmp_path):
    h = httpd(mpm="prefork", wsguard=SCAN)
    h.start()
    env = dict(os.environ, SUDO_USER="alice")
    p = subprocess.run([wsguardctl_path(), "-d", h.state_dir, "ban", "127.9.2.2", "--reason",
                        "ticket 42"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert h.ctl("unban", "127.9.2.2")[0] == 0
    f = tmp_path / "peer.txt"
    f.write_text("45.3.3.3\n45.3.3.4\n")
    assert h.ctl("import", str(f), "--source", "peer")[0] == 0
    assert h.ctl("import", str(f), "--dry-run")[0] == 0
    assert h.ctl("ban", "127.7.0.0/16", "--for", "1h")[0] == 0
    assert h.ctl("purge")[0] == 0
    evs = admin_events(h.event_log)
    assert [e["action"] for e in evs] == ["ban", "unban", "import", "ban", "purge"], evs
    ban = evs[0]
    assert ban["client"] == "127.9.2.2" and ban["msg"] == "ticket 42" and ban["count"] == 1
    assert ban["by"] == {"uid": 0, "user": "root", "sudo_user": "alice"}
    assert ban["args"] == ["127.9.2.2", "--reason", "ticket 42"] and ban["ban_until"]
    assert evs[2]["count"] == 2 and evs[2]["msg"] == "peer"
    assert evs[3]["client"] == "127.7.0.0/16"
    assert not os.path.exists(os.path.join(h.state_dir, "audit.log"))
    # the report reads the event log: admin lines are not scanner activity
    rc, out, err = h.ctl("report", "--log", h.event_log, "--format", "json")
    assert rc == 0 and "127.9.2.2" not in out, out


def test_cli_actions_in_the_state_audit_log_without_an_event_log(httpd):
    h = httpd(mpm="prefork", wsguard=SCAN, event_log=False)
    h.start()
    assert h.ctl("ban", "127.9.2.3", "--for", "1h")[0] == 0
    assert h.ctl("unban", "127.9.2.3")[0] == 0
    path = os.path.join(h.state_dir, "audit.log")
    evs = admin_events(path)
    assert [e["action"] for e in evs] == ["ban", "unban"]
    assert evs[0]["event_log_unused"] == "no event log file"
    st = os.stat(path)
    assert st.st_uid == os.stat(h.state_dir).st_uid and not st.st_mode & 0o022


def test_planted_event_log_path_is_not_written(httpd, tmp_path):
    """The policy is in a state the children's user can write: a path planted there that is not
    an event log is never appended to as root."""
    victim = tmp_path / "victim.conf"
    victim.write_text("important = yes\n")
    h = httpd(mpm="prefork", wsguard=SCAN, event_log=False)
    h.event_log = str(victim)            # the server then records this path as its event log
    h.write_config()
    h.start()
    assert h.ctl("ban", "127.9.2.4", "--for", "1h")[0] == 0
    assert victim.read_text().startswith("important = yes\n")
    evs = admin_events(os.path.join(h.state_dir, "audit.log"))
    assert evs and "does not look like the event log" in evs[0]["event_log_unused"]
    # nor a device (never even opened for writing)
    h.stop()
    h.event_log = "/dev/null"
    h.write_config()
    h.start()
    assert h.ctl("ban", "127.9.2.5", "--for", "1h")[0] == 0
    evs = admin_events(os.path.join(h.state_dir, "audit.log"))
    assert "not a regular file" in evs[-1]["event_log_unused"], evs[-1]


# ---- range bans ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_range_ban(httpd, mpm):
    h = httpd(mpm=mpm, wsguard=SCAN)
    h.start()
    assert h.status("/index.html", src="127.5.9.9") == 200
    rc, out, err = h.ctl("ban", "127.5.0.0/16", "--for", "1h", "--reason", "a /16")
    assert rc == 0 and "banned 127.5.0.0/16 for 1h00m (a range: 1 record)" in out, (out, err)
    time.sleep(1.2)                 # every child looks at the range index within a second
    assert h.status("/index.html", src="127.5.9.9") == 403
    assert [h.status("/index.html", src="127.5.%d.1" % k) for k in (0, 200, 255)] == [403] * 3
    assert h.status("/index.html", src="127.6.0.1") == 200
    assert h.status("/index.html", src="127.4.255.255") == 200
    r = rows(h)
    assert r["127.5.0.0/16"]["prefix_len"] == 16 and r["127.5.0.0/16"]["source"] == "a /16"
    assert "127.5.9.9" not in r                     # not expanded, no member records
    rc, out, err = h.ctl("show", "127.5.0.0/16")
    assert rc == 0 and "a range ban" in out, out
    rc, out, err = h.ctl("show", "127.5.9.9")
    assert "inside the range ban 127.5.0.0/16" in err
    for fmt, text in (("nft", "127.5.0.0/16"), ("ipset", "127.5.0.0/16"),
                      ("iptables", "127.5.0.0/16"), ("pf", "127.5.0.0/16"),
                      ("plain", "127.5.0.0/16")):
        rc, out, err = h.ctl("export", "--format", fmt)
        assert rc == 0 and text in out, (fmt, out)
    rc, out, err = h.ctl("unban", "127.5.0.0/16")
    assert rc == 0 and "unbanned 127.5.0.0/16 (the range and" in out, out
    time.sleep(1.2)
    assert [h.status("/index.html", src="127.5.9.9") for _ in range(4)] == [200] * 4
    assert "127.5.0.0/16" not in rows(h)
    # IPv6 and a narrow IPv4 range too
    assert h.ctl("ban", "2001:db8:5::/48", "--for", "1h")[0] == 0
    assert h.ctl("ban", "127.8.1.64/26", "--for", "1h")[0] == 0
    time.sleep(1.2)
    assert h.status("/index.html", src="127.8.1.100") == 403
    assert h.status("/index.html", src="127.8.1.10") == 200
    assert "2001:db8:5::/48" in rows(h)
