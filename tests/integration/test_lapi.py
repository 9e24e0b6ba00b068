"""The core CrowdSec client and sync (wsg_lapi, wsg_outbox, wsg_sync) against a REAL Local API:
Debian's crowdsec started once for this file (tests/integration/lapi.py: own config, free port on
127.0.0.1, stopped by pid), identities made with cscli, and build/tests/lapi_driver running the
core code as the server's sync task will. No httpd here: the module's wiring is tested elsewhere.

Each test uses its own identities, state directories and addresses (the LAPI's database is shared
by the file).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from lapi import lapi, wait_for  # noqa: E402,F401  (lapi: the module-scoped LAPI fixture)

from lapi import DRIVER  # noqa: E402
EACCES, ECONNREFUSED = 13, 111


@pytest.fixture
def tmp(request):
    d = tempfile.mkdtemp(prefix="wsg-lapi-t-", dir=os.environ.get("WSG_TMP", "/tmp"))
    yield d
    if not os.environ.get("WSG_KEEP"):
        subprocess.run(["rm", "-rf", d])


def ident(lapi, name, push=True, pull=True, password=None, key=None):
    """The driver's environment for a server named name: its own machine and bouncer."""
    env = {"WSG_LAPI_URL": lapi.url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if push:
        env["WSG_LAPI_MACHINE"] = name
        env["WSG_LAPI_PASSWORD"] = password or lapi.add_machine(name)
    if pull:
        env["WSG_LAPI_BOUNCER_KEY"] = key or lapi.add_bouncer(name + "-bouncer")
    return env


def drv(env, *args, check=True, extra=None, timeout=60):
    e = dict(env)
    e.update(extra or {})
    r = subprocess.run([DRIVER] + [str(a) for a in args], capture_output=True, text=True, env=e,
                       timeout=timeout)
    lines = r.stdout.strip().splitlines()
    assert lines, "lapi_driver %s printed nothing (rc %d): %s" % (args, r.returncode, r.stderr)
    out = json.loads(lines[-1])
    if check and r.returncode != 0:
        raise AssertionError("lapi_driver %s failed: %s" % (" ".join(map(str, args)), out))
    out["_rc"] = r.returncode
    out["_stderr"] = r.stderr
    return out


def show(env, state, value):
    return drv(env, "show", state, value)


def lapi_values(lapi):
    return {d["value"]: (a, d) for a, d in lapi.decisions()}


def test_login_and_token_renewal(lapi):
    env = ident(lapi, "wsg-t-login", pull=False)
    assert drv(env, "login")["ok"]
    # a token the LAPI refuses (401: expired, or signed before a restart) is renewed once
    assert drv(env, "stale-push", "192.0.2.201")["ok"]
    assert "192.0.2.201" in lapi_values(lapi)


def test_bad_credentials_give_one_clear_error(lapi, tmp):
    good = ident(lapi, "wsg-t-badcreds")
    bad = dict(good, WSG_LAPI_PASSWORD="not-the-password", WSG_LAPI_BOUNCER_KEY="0" * 32)
    r = drv(bad, "login", check=False)
    assert r["_rc"] == 1 and r["status"] == EACCES
    assert "incorrect Username or Password" in r["error"] and lapi.url in r["error"]
    assert "wsg-t-badcreds" in r["error"]
    r = drv(bad, "pull", check=False)
    assert r["_rc"] == 1 and r["status"] == EACCES and "access forbidden" in r["error"]
    # the sync: both directions refused, said once (changed), the ban kept for later
    state = os.path.join(tmp, "a")
    drv(bad, "enqueue", state, "192.0.2.202", 600, "webshell-probe", 3)
    r = drv(bad, "sync", state)
    assert r["push"] == "refused" and r["pull"] == "refused"
    assert r["push_changed"] and r["pull_changed"]
    assert "\n" not in r["push_err"] and "incorrect Username or Password" in r["push_err"]
    assert r["backlog"] == 1
    st = drv(bad, "state", state)
    assert st["push_failures"] == 1 and "incorrect" in st["push_err"]
    # with the right password the backlog goes, the state says it works again
    r = drv(good, "sync", state)
    assert r["push"] == "ok" and r["pushed"] == 1 and r["backlog"] == 0
    st = drv(good, "state", state)
    assert st["push_failures"] == 0 and st["push_err"] == "" and st["pushed"] == 1


def test_push_three_bans(lapi, tmp):
    env = ident(lapi, "wsg-t-push3")
    state = os.path.join(tmp, "a")
    drv(env, "enqueue", state, "203.0.113.31", 3600, "webshell-probe", 5, "/shell.php\n/c99.php")
    drv(env, "enqueue", state, "2001:db8::31", 7200, "webshell-probe", 2, "/wso.php")
    drv(env, "enqueue", state, "198.18.31.0/24", 600, "prefix", 9)
    r = drv(env, "sync", state)
    assert r["push"] == "ok" and r["pushed"] == 3 and r["backlog"] == 0, r

    got = lapi_values(lapi)
    for v, scope, scen in (("203.0.113.31", "Ip", "wsguard/webshell-probe"),
                           ("2001:db8::31", "Ip", "wsguard/webshell-probe"),
                           ("198.18.31.0/24", "Range", "wsguard/prefix")):
        assert v in got, "%s not in the LAPI: %s" % (v, sorted(got))
        alert, d = got[v]
        assert d["origin"] == "mod_wsguard" and d["scenario"] == scen and d["scope"] == scope
        assert d["type"] == "ban"
        assert alert["machine_id"] == "wsg-t-push3"
    # several bans per alert (fewer alerts for 1.4.6's flush to eat), message says what happened
    a1, _ = got["203.0.113.31"]
    assert got["2001:db8::31"][0]["id"] == a1["id"]
    assert "203.0.113.31 (5 probes: /shell.php /c99.php)" in a1["message"]
    assert "2001:db8::31 (2 probes: /wso.php)" in a1["message"]
    assert got["198.18.31.0/24"][0]["id"] != a1["id"]
    # the remaining time was pushed, in Go's spelling, not the original length
    assert got["2001:db8::31"][1]["duration"].startswith(("1h59m", "2h0m", "1h58m"))

    # a bouncer that starts now gets them with startup=true, scopes spelled as pushed
    reader = ident(lapi, "wsg-t-push3-reader", push=False)
    s = drv(reader, "pull", "startup")
    new = {d["value"]: d for d in s["new"]}
    assert new["203.0.113.31"]["scope"] == "Ip" and new["198.18.31.0/24"]["scope"] == "Range"
    assert 3500 < new["203.0.113.31"]["duration_s"] <= 3600
    # and the next (delta) pull has nothing new for it
    assert not any(d["value"] == "203.0.113.31" for d in drv(reader, "pull")["new"])


def test_central_delete_lifts_everywhere(lapi, tmp):
    """A's local ban is pushed, B pulls it; `cscli decisions delete` lifts it on both, A included
    (the operator decided), through the stream's deltas while both run their loops."""
    a_env, b_env = ident(lapi, "wsg-t-del-a"), ident(lapi, "wsg-t-del-b", push=False)
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    ip = "203.0.113.41"
    drv(a_env, "localban", a, ip, 3600)
    drv(a_env, "enqueue", a, ip, 3600, "webshell-probe", 4, "/x.php")
    assert drv(a_env, "sync", a)["pushed"] == 1
    r = drv(b_env, "sync", b)
    assert r["startup"] and r["added"] >= 1
    rec = show(b_env, b, ip)
    assert rec["banned"] and rec["flags"] == ["CROWDSEC"] and rec["source"] == "mod_wsguard/webshell-probe"
    assert 3500 < rec["ban_remaining_s"] <= 3600
    rec = show(a_env, a, ip)
    assert rec["banned"] and "CROWDSEC" not in rec["flags"]       # A's own ban stays local

    # both servers run their sync loop (5 steps a second); an operator deletes centrally
    loops = [subprocess.Popen([DRIVER, "sync", d], env=dict(e, WSG_SYNC_STEPS="100",
                                                             WSG_SYNC_PAUSE_MS="200"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for d, e in ((a, a_env), (b, b_env))]
    try:
        time.sleep(0.6)                         # past their startup pulls: deltas from now on
        lapi.delete_decision(ip)
        took_b = wait_for(lambda: not show(b_env, b, ip)["found"], 5)
        took_a = wait_for(lambda: not show(a_env, a, ip)["banned"], 5)
    finally:
        for p in loops:
            p.terminate()
            p.wait(5)
    assert took_b is not None, "B still bans %s 5 s after cscli decisions delete" % ip
    assert took_a is not None, "A still bans %s 5 s after cscli decisions delete" % ip
    sys.stderr.write("\ncentral delete lifted on B %.2fs, on A %.2fs after cscli returned\n"
                     % (took_b, took_b + took_a))
    assert show(a_env, a, ip)["found"]          # A keeps its history (hits), only the ban goes
    # the stream says so too, to a bouncer that was reading before the delete
    reader = ident(lapi, "wsg-t-del-reader", push=False)
    drv(reader, "pull", "startup")
    ip2 = "203.0.113.42"
    lapi.add_decision(ip2, "1h")
    assert any(d["value"] == ip2 for d in drv(reader, "pull")["new"])
    lapi.delete_decision(ip2)
    deleted = drv(reader, "pull")["deleted"]
    assert any(d["value"] == ip2 and d["duration_s"] <= 0 for d in deleted), deleted


def test_cscli_ban_reaches_the_store_flagged(lapi, tmp):
    env = ident(lapi, "wsg-t-add", push=False)
    state = os.path.join(tmp, "b")
    ip = "198.51.100.51"
    lapi.add_decision(ip, "1h")
    r = drv(env, "sync", state)
    assert r["pull"] == "ok" and r["startup"]
    rec = show(env, state, ip)
    assert rec["banned"] and rec["flags"] == ["CROWDSEC"] and rec["source"] == "cscli/wsg-test-admin", rec
    assert 3500 < rec["ban_remaining_s"] <= 3600
    # pulling the same again (a resync) changes nothing
    r = drv(env, "sync", state)
    assert show(env, state, ip)["ban_remaining_s"] <= rec["ban_remaining_s"]


def test_pulled_decision_never_shortens_a_local_ban(lapi, tmp):
    env = ident(lapi, "wsg-t-short", push=False)
    state = os.path.join(tmp, "b")
    ip = "198.51.100.61"
    drv(env, "localban", state, ip, 86400)
    lapi.add_decision(ip, "1h")
    drv(env, "sync", state)
    rec = show(env, state, ip)
    assert rec["banned"] and rec["ban_remaining_s"] > 86000, rec
    assert rec["flags"] == [] and rec["source"] == ""                 # not relabelled
    # a longer one lengthens it, keeping the local record and adding the flag
    ip2 = "198.51.100.62"
    drv(env, "localban", state, ip2, 60)
    lapi.add_decision(ip2, "2h")
    drv(env, "sync", state)
    rec = show(env, state, ip2)
    assert rec["ban_remaining_s"] > 7000 and rec["flags"] == ["CROWDSEC"] and rec["hits"] == 1


def test_allowlist_wins_over_a_pulled_ban(lapi, tmp):
    env = ident(lapi, "wsg-t-allow", push=False)
    state = os.path.join(tmp, "b")
    lapi.add_decision("198.51.100.71", "1h")
    lapi.add_decision("198.51.100.72", "1h")
    r = drv(env, "sync", state, "198.51.100.71/32")
    assert r["pull"] == "ok"
    assert not show(env, state, "198.51.100.71")["found"]
    assert show(env, state, "198.51.100.72")["banned"]


def test_refused_item_is_dropped_alone(lapi, tmp):
    env = ident(lapi, "wsg-t-invalid", pull=False)
    state = os.path.join(tmp, "a")
    drv(env, "enqueue", state, "203.0.113.81", 600, "webshell-probe", 1)
    # a ban longer than Go's time.Duration holds (292 years): 1.4.6 answers 500 for the batch
    drv(env, "enqueue", state, "203.0.113.82", 10 ** 10, "webshell-probe", 1)
    drv(env, "enqueue", state, "203.0.113.83", 600, "webshell-probe", 1)
    r = drv(env, "sync", state)
    assert r["push"] == "ok" and r["pushed"] == 2 and r["dropped"] == 1 and r["backlog"] == 0, r
    assert "invalid duration" in r["drop_msg"]
    got = lapi_values(lapi)
    assert "203.0.113.81" in got and "203.0.113.83" in got and "203.0.113.82" not in got
    assert drv(env, "state", state)["dropped"] == 1


def test_unban_deletes_exactly_that_decision(lapi, tmp):
    env = ident(lapi, "wsg-t-unban", pull=False)
    state = os.path.join(tmp, "a")
    ip = "198.51.101.7"
    drv(env, "enqueue", state, ip, 3600, "webshell-probe", 3)
    lapi.cscli("decisions", "add", "--range", "198.51.101.0/24", "--duration", "1h")
    assert drv(env, "sync", state)["pushed"] == 1
    assert ip in lapi_values(lapi)
    drv(env, "unban", state, ip)
    r = drv(env, "sync", state)
    assert r["unbanned"] == 1 and r["backlog"] == 0, r
    got = lapi_values(lapi)
    assert ip not in got
    assert "198.51.101.0/24" in got            # a wider range holding it is not ours to lift


def test_outage_keeps_the_backlog_and_pushes_it_on_return(lapi, tmp):
    """LAPI down: the push fails at once with a clear error and the outbox keeps the bans; the
    server's loop backs off, yet pushes the backlog within a moment of the LAPI's return (it asks
    /health while backed off) instead of waiting out a backoff of several seconds."""
    env = ident(lapi, "wsg-t-outage")
    state = os.path.join(tmp, "a")
    lapi.stop()
    loop = None
    try:
        drv(env, "enqueue", state, "203.0.113.91", 3600, "webshell-probe", 2)
        drv(env, "enqueue", state, "203.0.113.92", 3600, "webshell-probe", 2)
        t0 = time.time()
        r = drv(env, "sync", state)
        assert time.time() - t0 < 5                   # refused at once, not a hang
        assert r["push"] == "unreachable" and r["pull"] == "unreachable", r
        assert lapi.url in r["push_err"] and r["push_changed"]
        assert r["backlog"] == 2
        assert drv(env, "state", state)["push_failures"] == 1
        # the server's loop, 5 steps a second, through 4 s of outage: backoff 1, 2, 4 s...
        loop = subprocess.Popen([DRIVER, "sync", state],
                                env=dict(env, WSG_SYNC_STEPS="100", WSG_SYNC_PAUSE_MS="200"),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(4)
        assert drv(env, "state", state)["push_failures"] >= 3
    finally:
        lapi.start()
    try:
        back = time.time()
        took = wait_for(lambda: drv(env, "state", state)["backlog"] == 0, 5)
        assert took is not None, "backlog not pushed 5 s after the LAPI returned"
        sys.stderr.write("\nbacklog pushed %.2fs after the LAPI answered again\n" % (time.time() - back))
        assert took < 2.5
        # The step that emptied the outbox writes its state just after: let it finish.
        def settled():
            st = drv(env, "state", state)
            return st["push_failures"] == 0 and st["push_err"] == "" and st["pushed"] == 2
        assert wait_for(settled, 5) is not None, drv(env, "state", state)
    finally:
        loop.terminate()
        loop.wait(5)
    got = lapi_values(lapi)
    assert "203.0.113.91" in got and "203.0.113.92" in got


def test_tls_ca_file_and_client_certificates():
    """An https LAPI with a CA of the test's own: the CA file is used to verify it (without it, a
    clear certificate error), and a client certificate is presented (with the bouncer OU it is the
    bouncer's identity, with another OU the LAPI refuses it)."""
    from lapi import CrowdSecLAPI, ensure_installed
    if ensure_installed():
        pytest.skip("crowdsec is not installed")
    server = CrowdSecLAPI(tls=True)
    try:
        server.start()
        pki = server.pki
        env = {"WSG_LAPI_URL": server.url, "WSG_LAPI_BOUNCER_KEY": server.add_bouncer("wsg-t-tls")}
        server.add_decision("198.51.100.201", "1h")
        s = drv(dict(env, WSG_LAPI_CA_FILE=pki["ca"]), "pull", "startup")
        assert any(d["value"] == "198.51.100.201" for d in s["new"])
        r = drv(env, "pull", check=False)                       # the system CAs do not know it
        assert r["_rc"] == 1 and r["status"] == ECONNREFUSED and "certificate" in r["error"], r
        # the bouncer's certificate is its identity: no key needed
        cert = {"WSG_LAPI_URL": server.url, "WSG_LAPI_BOUNCER_KEY": "not-a-key",
                "WSG_LAPI_CA_FILE": pki["ca"]}
        s = drv(dict(cert, WSG_LAPI_CERT_FILE=pki["bouncer"], WSG_LAPI_KEY_FILE=pki["bouncer_key"]),
                "pull", "startup")
        assert any(d["value"] == "198.51.100.201" for d in s["new"])
        r = drv(dict(cert, WSG_LAPI_CERT_FILE=pki["other"], WSG_LAPI_KEY_FILE=pki["other_key"]),
                "pull", check=False)
        assert r["_rc"] == 1 and r["status"] == EACCES, r
        r = drv(cert, "pull", check=False)                      # no certificate, a wrong key
        assert r["_rc"] == 1 and r["status"] == EACCES, r
    finally:
        server.cleanup()
