"""Issue 8, the request path: one verdict per request (wsg_inspect), one write, one hit and one
event for a request that scores at once and again after its answer; the alert for a probed file
that exists even when the probe is refused; a refused probe of a missing file counts as its 404
would have. Against a real httpd, both MPMs."""
import os
import re
import socket
import time

import wsg_httpd

SHIPPED = os.path.abspath(os.path.join(os.path.dirname(wsg_httpd.__file__), "..", "..", "rules"))

RULES = ('id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'
         'id=9002 score=3 tag=shell-family msg="strong probe" basename=wso.php\n'
         'id=9003 score=1 tag=php-shell msg="both, at once" path.prefix=/both/\n'
         'id=9004 score=2 outcome=miss tag=generic-shell-name msg="both, on a miss" path.prefix=/both/\n')


def show(h, addr):
    rc, out, err = h.ctl("show", addr)
    assert rc == 0, err
    hits = int(re.search(r"(?m)^hits\s+(\d+)", out).group(1))
    score = float(re.search(r"(?m)^score now\s+([0-9.]+)", out).group(1))
    flags = re.search(r"(?m)^flags\s+(\S+)", out).group(1)
    return hits, score, flags


def test_any_and_miss_probe_is_one_write_one_hit_one_event(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 100\nWSGuardAllow none")
    h.start()
    src = "127.9.0.2"
    assert h.status("/both/x.php", src=src) == 404
    evs = h.wait_events(lambda e: e.get("client") == src)
    time.sleep(0.3)
    evs = h.events(client=src)
    assert len(evs) == 1, evs
    assert evs[0]["event"] == "probe" and evs[0]["score"] == 3 and evs[0]["status"] == 404, evs
    hits, score, _ = show(h, src)
    assert hits == 1 and abs(score - 3) < 0.05, (hits, score)


def test_2xx_probe_is_one_write_one_hit_one_event(httpd, mpm):
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds off 100\nWSGuardAllow none",
              files={"probe/shell.php": "<?php ?>\n"})
    h.expect_log(r"possible web shell present")
    h.start()
    src = "127.9.0.3"
    assert h.status("/probe/shell.php", src=src) == 200
    h.wait_events(lambda e: e.get("event") == "alert")
    time.sleep(0.3)
    evs = h.events(client=src)
    assert [e["event"] for e in evs] == ["alert"], evs
    hits, score, flags = show(h, src)
    assert hits == 1 and abs(score - 1) < 0.05 and "SHELL-HIT" in flags, (hits, score, flags)


def test_refused_probe_of_existing_file_raises_alert(httpd, mpm):
    """A fresh client's probe of a file that exists scores 4, crosses the rate-limit tier (3) and
    is answered 429: the alert fires all the same (log line, event, flag)."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds 3 100\nWSGuardAllow none",
              files={"probe/wso.php": "<?php ?>\n"})
    h.expect_log(r"possible web shell present")
    h.start()
    src = "127.9.0.4"
    assert h.status("/probe/wso.php", src=src) == 429
    lines = h.wait_error_line(r"possible web shell present")
    assert len(lines) == 1 and "/probe/wso.php" in lines[0], lines
    assert re.search(r"\[wsguard:alert\]", lines[0]), lines
    assert "the file exists" in lines[0] and "refused with 429" in lines[0], lines
    evs = h.wait_events(lambda e: e.get("event") == "alert")
    assert len(evs) == 1 and evs[0]["client"] == src and evs[0]["status"] == 429, evs
    assert evs[0]["action"] == "ratelimit", evs
    time.sleep(0.3)
    assert len(h.events(client=src)) == 1, h.events(client=src)
    hits, score, flags = show(h, src)
    assert hits == 1 and abs(score - 4) < 0.05 and "SHELL-HIT" in flags, (hits, score, flags)
    # The same probe of a missing file is no alert.
    assert h.status("/probe/absent.php", src="127.9.0.5") == 404
    time.sleep(0.3)
    assert len(h.error_lines(r"possible web shell present")) == 1


def test_issue_example_uploads_script_that_exists(httpd, mpm):
    """The issue's case with the shipped rules: /wp-content/uploads/up.php that exists scores 7,
    gets 429 (thresholds 5/10) and raises the alert."""
    h = httpd(mpm=mpm, rules=SHIPPED, wsguard="WSGuardAllow none",
              files={"wp-content/uploads/up.php": "<?php ?>\n"})
    h.expect_log(r"possible web shell present")
    h.start()
    r = h.get("/wp-content/uploads/up.php", src="127.9.0.6")
    assert r.status == 429, r
    assert h.wait_error_line(r"possible web shell present.*/wp-content/uploads/up.php")
    _, score, flags = show(h, "127.9.0.6")
    assert abs(score - 7) < 0.05 and "SHELL-HIT" in flags, (score, flags)


def test_refused_probe_of_missing_file_counts_its_miss_part(httpd, mpm):
    """A client in the 429 tier probes a missing /both/ file: refused, and scored 1 + 2 at once
    (as its 404 would have), in one write and one event."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardThresholds 3 100\nWSGuardAllow none")
    h.start()
    src = "127.9.0.7"
    assert h.statuses(["/probe/a", "/probe/b", "/probe/c"], src=src) == [404, 404, 429]
    hits0, score0, _ = show(h, src)
    n0 = len(h.events(client=src))
    assert h.status("/both/y.php", src=src) == 429
    time.sleep(0.3)
    hits1, score1, _ = show(h, src)
    assert hits1 == hits0 + 1 and abs(score1 - score0 - 3) < 0.05, (hits0, score0, hits1, score1)
    evs = h.events(client=src)
    assert len(evs) == n0 + 1 and evs[-1]["score"] == 3 and evs[-1]["status"] == 429, evs
    # A clean request of the rate-limited client is served (refuse in proportion) and writes
    # nothing.
    assert h.status("/index.html", src=src) == 200
    time.sleep(0.2)
    assert show(h, src)[0] == hits1 and len(h.events(client=src)) == n0 + 1


def test_banned_client_refused_with_a_fixed_403(httpd, mpm):
    """A banned client's HTTP/1.1 request gets a fixed 403 written at once (quick_handler), the
    connection closed as the client asked; HEAD gets the head only; a POST's body is not waited
    for."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardAllow none")
    h.start()
    src = "127.9.0.8"
    rc, out, err = h.ctl("ban", src, "--for", "1h")
    assert rc == 0, err
    r = h.get("/index.html", src=src)
    assert r.status == 403 and r.body == b"Forbidden\n", (r, r.body)
    assert r.headers.get("content-length") == "10" and r.headers.get("connection") == "close", r.headers
    r = h.get("/index.html", src=src, method="HEAD")
    assert r.status == 403 and r.body == b"", (r, r.body)
    r = h.get("/x.php", src=src, method="POST", body="a=" + "x" * 5000)
    assert r.status == 403, r
    # Its neighbours are served, and nothing was written for the refusals.
    assert h.status("/index.html", src="127.9.0.9") == 200
    assert show(h, src)[0] == 0


def exchange(port, src, data, timeout=3.0):
    """Writes data on one new connection from src and reads until the server closes it or
    timeout passes. Returns (the answers' bytes, whether the server closed the connection)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((src, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(data)
    raw, closed = b"", False
    try:
        while True:
            c = sock.recv(65536)
            if not c:
                closed = True
                break
            raw += c
    except socket.timeout:
        pass
    finally:
        sock.close()
    return raw, closed


def heads(raw):
    """The status and the Connection header of each answer in raw (bodies are "Forbidden\n")."""
    out = []
    for part in raw.split(b"Forbidden\n")[:-1]:
        if part.startswith(b"HTTP/"):
            m = re.search(rb"(?im)^connection: *(\S+)", part)
            out.append((int(part.split()[1]), m.group(1).decode().lower() if m else None))
    return out


def test_banned_client_keeps_its_connection_as_httpd_would(httpd, mpm):
    """With KeepAlive On, a banned HTTP/1.1 client's refusals keep the connection open (a flood
    on one connection is not also a flood of handshakes) until the client says close; HTTP/1.0
    and a request with a body (never read for a banned client) close it; KeepAlive Off closes."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardAllow none",
              extra="KeepAlive On\nMaxKeepAliveRequests 100\nKeepAliveTimeout 2")
    h.start()
    src = "127.9.0.18"
    rc, out, err = h.ctl("ban", src, "--for", "1h")
    assert rc == 0, err
    get = "GET /index.html HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
    raw, closed = exchange(h.port, src, (get % "").encode() * 3 + (get % "Connection: close\r\n").encode())
    assert heads(raw) == [(403, None)] * 3 + [(403, "close")] and closed, raw
    # HTTP/1.0: closed after the first
    raw, closed = exchange(h.port, src, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    assert heads(raw) == [(403, "close")] and closed, raw
    # a body: the answer, then the connection closed without the body being waited for
    post = b"POST /x.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\na=1"
    raw, closed = exchange(h.port, src, post)
    assert heads(raw) == [(403, "close")] and closed, raw
    # after a keep-alive refusal, the idle connection ends after KeepAliveTimeout, as any
    raw, closed = exchange(h.port, src, (get % "").encode(), timeout=6)
    assert heads(raw) == [(403, None)] and closed, raw
    # KeepAlive Off: every refusal closes
    h.stop()
    h.write_config(extra="KeepAlive Off")
    h.start()
    raw, closed = exchange(h.port, src, (get % "").encode() * 2)
    assert heads(raw) == [(403, "close")] and closed, raw


def test_user_agent_rules_still_apply(httpd, mpm):
    """The User-Agent is read only when a rule may look at it: a scripted client's missing script
    still scores its User-Agent rule (500001), a browser's does not."""
    h = httpd(mpm=mpm, rules=SHIPPED, wsguard="WSGuardAllow none")
    h.start()
    assert h.status("/zzqq.php", src="127.9.0.10", headers={"User-Agent": "python-requests/2.31.0"}) == 404
    assert h.status("/zzqq.php", src="127.9.0.11",
                    headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}) == 404
    lib = h.wait_events(lambda e: e.get("client") == "127.9.0.10")
    web = h.wait_events(lambda e: e.get("client") == "127.9.0.11")
    # A first miss is held at half the first threshold (2.5): the scripted client's is, the
    # browser's (2) is not.
    assert 500001 in lib[0]["rules"] and lib[0]["client_score"] == 2.5, lib
    assert 500001 not in web[0]["rules"] and web[0]["score"] == 2, web


class KeepAlive:
    """One keep-alive HTTP/1.1 connection from src: ask() sends a request and reads its whole
    answer (Content-Length or a 403's fixed body), so the next one goes on the same connection."""

    def __init__(self, port, src):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(5.0)
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def ask(self, path, method="GET", host="localhost"):
        self.sock.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wsg-it/1.0\r\n\r\n"
                           % (method, path, host)).encode())
        while b"\r\n\r\n" not in self.buf:
            c = self.sock.recv(65536)
            assert c, "the server closed the connection"
            self.buf += c
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        if method == "HEAD":        # a Content-Length, and no body
            self.buf = rest
            return int(head.split()[1])
        m = re.search(rb"(?im)^content-length: *(\d+)", head)
        assert m, head
        while len(rest) < int(m.group(1)):
            c = self.sock.recv(65536)
            assert c, "the server closed the connection"
            rest += c
        self.buf = rest[int(m.group(1)):]
        return int(head.split()[1])

    def close(self):
        self.sock.close()


def test_keepalive_clean_client_sees_a_ban_made_elsewhere_at_once(httpd, mpm):
    """The connection's memo of a client without records (no lookups while the store's last
    transaction is the one it was proved in) ends with any write: a ban by wsguardctl refuses
    the next request on the same connection, a range ban within the second the range index is
    looked at again, and the client's own probes on it score one by one."""
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardAllow none\nWSGuardThresholds off 100",
              extra="KeepAlive On\nMaxKeepAliveRequests 0\nKeepAliveTimeout 10")
    h.start()
    src = "127.9.3.2"
    ka = KeepAlive(h.port, src)
    assert [ka.ask("/index.html") for _ in range(5)] == [200] * 5
    rc, out, err = h.ctl("ban", src, "--for", "1h")
    assert rc == 0, err
    assert ka.ask("/index.html") == 403
    ka.close()
    # a range ban: refused within the second of the range index's recheck (as without memo)
    src = "127.10.4.2"
    ka = KeepAlive(h.port, src)
    assert [ka.ask("/index.html") for _ in range(5)] == [200] * 5
    rc, out, err = h.ctl("ban", "127.10.0.0/16", "--for", "1h")
    assert rc == 0, err
    deadline, got = time.time() + 3, []
    while time.time() < deadline and (not got or got[-1] != 403):
        got.append(ka.ask("/index.html"))
        time.sleep(0.1)
    assert got[-1] == 403, got
    ka.close()
    # the client's own probes on its connection, between clean requests: each one counts
    src = "127.9.5.2"
    ka = KeepAlive(h.port, src)
    got = []
    for i in range(3):
        got += [ka.ask("/index.html"), ka.ask("/index.html"), ka.ask("/probe/p%d.php" % i)]
    ka.close()
    assert got == [200, 200, 404] * 3, got
    hits, score, _ = show(h, src)
    assert hits == 3 and abs(score - 3) < 0.1, (hits, score)


def test_pass_memo_keeps_get_and_head_apart(httpd, mpm):
    """The pass memo (wsg_pcache, per thread) is keyed by the method as httpd parsed it: a GET
    passed before does not pass a HEAD of the same target that a rule refuses to pass, nor the
    other way round. One keep-alive connection, so under prefork every request meets the same
    thread's memo (under event a connection's requests may go to other threads)."""
    rules = ('id=9011 score=1 tag=php-shell msg="HEAD only" method=HEAD path=/memo/head.html\n'
             'id=9012 score=1 tag=php-shell msg="GET only" method=GET path=/memo/get.html\n')
    h = httpd(mpm=mpm, rules=rules, wsguard="WSGuardAllow none\nWSGuardThresholds off 100",
              extra="KeepAlive On\nMaxKeepAliveRequests 0\nKeepAliveTimeout 10",
              files={"memo/head.html": "h\n", "memo/get.html": "g\n"})
    h.expect_log(r"possible web shell present")      # a probe answered 200: each rule's hit
    h.start()
    src = "127.9.6.2"
    ka = KeepAlive(h.port, src)
    got = [ka.ask("/memo/head.html") for _ in range(3)]        # passed, memoised as GET
    got.append(ka.ask("/memo/head.html", method="HEAD"))       # the rule's: one hit
    got += [ka.ask("/memo/get.html", method="HEAD") for _ in range(3)]   # memoised as HEAD
    got.append(ka.ask("/memo/get.html"))                       # the rule's: one hit
    ka.close()
    assert got == [200] * 8, got
    hits, score, _ = show(h, src)
    assert hits == 2 and abs(score - 2) < 0.1, (hits, score)


def test_keepalive_memo_is_per_virtual_host(httpd, mpm):
    """The connection's memo skips the allowlist only for the virtual host it was made for: on
    one keep-alive connection, a client tracked by a.test and allowlisted by b.test is not
    scored for its probe to b.test, and is for its probe to a.test."""
    src = "127.9.7.2"
    h = httpd(mpm=mpm, rules=RULES, wsguard="WSGuardAllow none\nWSGuardThresholds off 100",
              extra="KeepAlive On\nMaxKeepAliveRequests 0\nKeepAliveTimeout 10\n"
                    "<VirtualHost *:*>\n    ServerName a.test\n</VirtualHost>\n"
                    "<VirtualHost *:*>\n    ServerName b.test\n    WSGuardAllow %s\n"
                    "</VirtualHost>\n" % src)
    h.start()
    ka = KeepAlive(h.port, src)
    got = [ka.ask("/index.html", host="a.test") for _ in range(3)]     # the memo, made on a.test
    got.append(ka.ask("/probe/b.php", host="b.test"))                  # allowlisted there
    got.append(ka.ask("/probe/a.php", host="a.test"))                  # scored: one hit
    ka.close()
    assert got == [200, 200, 200, 404, 404], got
    hits, score, _ = show(h, src)
    assert hits == 1 and abs(score - 1) < 0.1, (hits, score)
