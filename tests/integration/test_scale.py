"""State at scale on a real httpd, in the smallest map (WSGuardMapSize 1M: about 4,400 records).

- A flood of 20,000 addresses, each in its own /24 with one low-scoring probe, fills the map many
  times over: the store evicts the least valuable records instead of switching tracking off, so a
  scanner that arrives after it is refused at its usual probe, and bans set before the flood (with
  wsguardctl) survive the eviction.
- A map full of records that may not be evicted (bans in force, here imported) refuses new
  records (logged as a full map, not a full disk); once those bans are over, new scanners are
  recorded again without any CLI action (the update evicts the expired records itself).

- 100,000 addresses of one IPv6 /64, each with one probe, cost a few records (the /64 is tracked
  as the prefix once it has a few members). IPv6 loopback is only ::1, so the clients are behind a
  trusted proxy (mod_remoteip, X-Forwarded-For from 127.9.9.1); the requests are pipelined on
  keep-alive connections (500 per connection, 4 at a time) to make 100,000 of them quick.
  (tests/unit/test_store.c test_prefix_rotation shows the same at the store/track level.)
"""
import re
import socket
import concurrent.futures
import time

import pytest

import wsg_httpd

FLOOD = 20000
SMALL = "WSGuardAllow none\nWSGuardMapSize 1M\n"


def flood(h, n, path, second):
    """One request per address 127.<second + k//250>.<k%250>.1 (each in its own /24), 8 at a time;
    returns {status: count}."""
    def one(k):
        return h.status("%s%d" % (path, k), src=wsg_httpd.src_addr(k, second=second, last=1))
    out = {}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for st in ex.map(one, range(n), chunksize=64):
            out[st] = out.get(st, 0) + 1
    return out


def listed(h):
    rc, out, err = h.ctl("list")
    assert rc == 0, err
    return out


@pytest.mark.parametrize("mpm", wsg_httpd.MPMS)
def test_flood_of_new_addresses_does_not_stop_tracking(httpd, mpm):
    h = httpd(mpm=mpm, wsguard=SMALL + "WSGuardThresholds off 3")
    h.expect_log(r"AH19456")                  # evicting: a warning, once per child
    h.expect_log(r"AH00161")                  # prefork: every child busy for a moment (a flood)
    h.start()
    banned = ["127.200.0.%d" % i for i in range(2, 6)]
    for ip in banned:
        rc, out, err = h.ctl("ban", ip, "--for", "1h")
        assert rc == 0, err
    t0 = time.time()
    assert flood(h, FLOOD, "/probe/f", second=10) == {404: FLOOD}
    took = time.time() - t0
    # A scanner after the flood is refused at its usual probe (the third), then at once.
    assert h.statuses(["/probe/a", "/probe/b", "/probe/c"], src="127.250.0.2") == [404, 404, 403]
    assert h.status("/index.html", src="127.250.0.2") == 403
    # Far more clients than the map holds went through it: evicted, logged once per child at most.
    assert h.error_lines(r"AH19456.*evicting")
    assert not h.error_lines(r"AH1945[15]")   # never failed, never the disk
    # Never refused for want of room among the records (the record cap, with eviction). LMDB
    # itself may run out of pages for a moment in a map this small when a reader is descheduled
    # mid-read on a busy machine (its snapshot pins the pages every later write frees): that
    # request fails open and its child says so once, and the next write evicts and goes on.
    assert not h.error_lines(r"AH19450.*may be evicted")
    h.expect_log(r"AH19450.*MDB_MAP_FULL: Environment mapsize limit reached \(LMDB")
    # The bans set before the flood are all still there and still refuse.
    out = listed(h)
    for ip in banned:
        assert ip in out, (ip, out)
        assert h.status("/index.html", src=ip) == 403
    # The latest clients of the flood are tracked (the oldest, least valuable, were evicted).
    last = wsg_httpd.src_addr(FLOOD - 1, second=10, last=1)
    rc, out, err = h.ctl("show", last)
    assert rc == 0 and last in out, (out, err)
    print("flood of %d addresses through %s: %.1f s" % (FLOOD, mpm, took))


def test_full_map_heals_without_cli_action(httpd, tmp_path):
    """A map full of bans in force: new scanners are not recorded (a full map, not a full disk,
    in the log); once the bans are over, the next scanner is recorded and refused again, with no
    wsguardctl purge in between."""
    h = httpd(mpm="prefork", wsguard=SMALL + "WSGuardThresholds off 2\nWSGuardScoreHalfLife 1s\n"
                                              "WSGuardBanTime 1s max=1s")
    h.expect_log(r"AH19450", r"AH19456")
    h.start()
    # Fill it with bans in force (/25s: 128 address records each, a wider CIDR being one range
    # record; imports may fill at most a quarter of the store, so manual bans do it).
    for k in range(60, 120):
        rc, out, err = h.ctl("ban", "127.%d.0.0/25" % k, "--for", "6s")
        if rc != 0:
            break
    t_import = time.time()
    assert rc != 0 and "full" in err, (rc, out, err)
    # The import writes in batches: the last few free slots, with single bans.
    for k in range(8):
        rc, out, err = h.ctl("ban", "127.59.0.%d" % (k + 1), "--for", "6s")
        if rc != 0:
            break
    assert rc != 0 and "full" in err, (rc, out, err)
    assert h.statuses(["/probe/x1", "/probe/x2", "/probe/x3"], src="127.251.0.2") == [404] * 3
    h.wait_error_line(r"AH19450.*is full \(WSGuardMapSize\)")
    assert not h.error_lines(r"AH19455")      # not taken for a full disk
    # After the imported bans end, without any CLI action, a new scanner is recorded again.
    time.sleep(max(0, t_import + 7.5 - time.time()))
    assert h.statuses(["/probe/y1", "/probe/y2"], src="127.252.0.2") == [404, 403]
    assert h.status("/index.html", src="127.252.0.2") == 403
    assert "127.252.0.2" in listed(h)


ROTATION = 100000
PROXY = "127.9.9.1"


def pipelined(port, requests, timeout=120):
    """Sends the raw requests on one keep-alive connection from PROXY (the last closes it) and
    returns the status of each answer."""
    data = "".join(requests).encode("latin-1")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.bind((PROXY, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(data)
        chunks = []
        while True:
            c = sock.recv(1 << 20)
            if not c:
                break
            chunks.append(c)
    return [int(m) for m in re.findall(rb"(?m)^HTTP/1\.1 (\d{3}) ", b"".join(chunks))]


def records(h):
    rc, out, err = h.ctl("stats")
    assert rc == 0, err
    m = re.search(r"(?m)^records\s+(\d+)", out)
    assert m, out
    return int(m.group(1)), out


@pytest.mark.parametrize("mpm", wsg_httpd.MPMS)
def test_ipv6_rotation_in_one_64_costs_few_records(httpd, mpm):
    h = httpd(mpm=mpm,
              wsguard="WSGuardAllow none\nWSGuardThresholds off 50\nWSGuardPrefixBan 1000000",
              extra="LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so\n"
                    "RemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy %s\n"
                    "KeepAlive On\nMaxKeepAliveRequests 0\nKeepAliveTimeout 30\n" % PROXY)
    h.start()
    per_conn = 500

    def batch(b):
        reqs = []
        for k in range(b * per_conn, (b + 1) * per_conn):
            client = "2001:db8:77:77:%x:%x:%x:1" % (k >> 16, k & 0xffff, (k * 7919) & 0xffff)
            last = k == (b + 1) * per_conn - 1
            reqs.append("GET /probe/r%d HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: %s\r\n"
                        "Connection: %s\r\n\r\n" % (k, client, "close" if last else "keep-alive"))
        return pipelined(h.port, reqs)

    t0 = time.time()
    statuses = {}
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for got in ex.map(batch, range(ROTATION // per_conn)):
            assert len(got) == per_conn, len(got)
            for st in got:
                statuses[st] = statuses.get(st, 0) + 1
    took = time.time() - t0
    # Every probe was answered (and scored: the /64 is never banned at this threshold).
    assert statuses == {404: ROTATION}, statuses
    n, out = records(h)
    print("%d addresses of one /64 through %s in %.1f s: %d records" % (ROTATION, mpm, took, n))
    assert n <= 16, out
    # ... and the /64 holds what its members did.
    rc, out, err = h.ctl("show", "2001:db8:77:77::/64")
    assert rc == 0 and "2001:db8:77:77::/64" in out, (out, err)
    m = re.search(r"(?m)^hits\s+(\d+)", out)
    assert m and int(m.group(1)) >= ROTATION - 100, out

