"""The sync task inside a real httpd (mod_wsguard_sync.c through mod_watchdog) against a real LAPI:
a `cscli decisions add` ban is refused by the server within 2 s, lifted within 2 s of
`cscli decisions delete`; an allowlisted address pulled as banned is still served; bad credentials
give one clear log line and the site serves. Both MPMs.

Needs mod_wsguard.c's register_hooks to call wsg_sync_register_hooks(p): until it does, these
tests skip (the server never logs AH19547)."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from lapi import lapi, wait_for  # noqa: E402,F401  (the module-scoped LAPI fixture)

import wsg_httpd  # noqa: E402

with open(os.path.join(wsg_httpd.REPO, "mod_wsguard", "mod_wsguard.c")) as _f:
    _GLUE = _f.read()
_HOOKED = "wsg_sync_register_hooks(p)" in _GLUE
_QUEUES = "wsg_sync_queue_ban(" in _GLUE
pytestmark = [pytest.mark.skipif(not _HOOKED, reason="the CrowdSec sync task is not hooked in yet "
                                 "(mod_wsguard.c's register_hooks must call wsg_sync_register_hooks)"),
              pytest.mark.usefixtures("lapi")]


def secret(h, name, text):
    p = os.path.join(h.root, "conf", name)
    with open(p, "w") as f:
        f.write(text + "\n")
    os.chmod(p, 0o600)
    return p


def server(httpd, lapi, mpm, name, allow="none", password=None, extra=""):
    h = httpd(mpm=mpm, wsguard="WSGuardAllow %s" % allow)
    pw = lapi.add_machine(name)
    key = lapi.add_bouncer(name + "-bouncer")
    line = ("WSGuardCrowdSec %s machine=%s password-file=%s bouncer-key-file=%s interval=1s"
            % (lapi.url, name, secret(h, "pw", password or pw), secret(h, "key", key)))
    h.write_config(wsguard="WSGuardAllow %s\n%s\n%s" % (allow, extra, line))
    h.start()
    if not h.wait_error_line(r"AH19547", timeout=3):
        pytest.skip("the CrowdSec sync task is not hooked in (mod_wsguard.c must call "
                    "wsg_sync_register_hooks)")
    return h


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_cscli_ban_and_delete_reach_the_server(httpd, lapi, mpm):
    h = server(httpd, lapi, mpm, "wsg-e2e-%s" % mpm)
    src = "127.77.%d.9" % (1 if mpm == "prefork" else 2)
    assert h.status("/", src=src) == 200
    lapi.add_decision(src, "1h")
    banned = wait_for(lambda: h.status("/", src=src) == 403, 4, step=0.1)
    assert banned is not None, "a cscli ban of %s was not enforced within 4 s" % src
    assert banned < 2.0, "a cscli ban took %.2fs to reach the server" % banned
    assert h.status("/", src="127.77.9.9") == 200              # others are served
    lapi.delete_decision(src)
    lifted = wait_for(lambda: h.status("/", src=src) == 200, 4, step=0.1)
    assert lifted is not None and lifted < 2.0, "cscli decisions delete not enforced within 2 s"
    sys.stderr.write("\n%s: ban enforced %.2fs after cscli returned, lifted %.2fs after delete\n"
                     % (mpm, banned, lifted))
    # a graceful restart stops the task with the old children and starts it with the new ones
    h.graceful()
    src2 = src[:-1] + "8"
    lapi.add_decision(src2, "1h")
    assert wait_for(lambda: h.status("/", src=src2) == 403, 4, step=0.1) is not None, \
        "no sync after a graceful restart"
    assert len(h.error_lines(r"AH19547")) == 2              # one task per generation


def test_allowlisted_address_pulled_as_banned_is_served(httpd, lapi):
    h = server(httpd, lapi, "event", "wsg-e2e-allow", allow="127.78.0.0/16")
    lapi.add_decision("127.78.1.1", "1h")
    lapi.add_decision("127.79.1.1", "1h")
    assert wait_for(lambda: h.status("/", src="127.79.1.1") == 403, 4, step=0.1) is not None
    assert h.status("/", src="127.78.1.1") == 200


def test_bad_credentials_one_clear_line_and_the_site_serves(httpd, lapi):
    h = server(httpd, lapi, "event", "wsg-e2e-badpw", password="wrong-password")
    h.expect_log(r"AH19540")
    lines = h.wait_error_line(r"AH19540", timeout=4)
    assert lines, "no AH19540 line within 4 s"
    line = lines[0]
    assert "incorrect Username or Password" in line and lapi.url in line
    time.sleep(2.5)                                            # several ticks later...
    assert len(h.error_lines(r"AH19540")) == 1                 # ...still said once
    assert h.status("/", src="127.80.0.1") == 200


@pytest.mark.skipif(not _QUEUES, reason="the request path does not queue its bans yet "
                    "(mod_wsguard.c must call wsg_sync_queue_ban where it bans)")
def test_a_scanner_refused_on_a_is_refused_on_b(httpd, lapi):
    """Two servers (prefork and event), each a full fleet member with its own identities: the
    scanner A bans is refused by B within 2 s of its refusal on A; B serves others."""
    a = server(httpd, lapi, "prefork", "wsg-fleet-a", extra="WSGuardThresholds off 3")
    b = server(httpd, lapi, "event", "wsg-fleet-b", extra="WSGuardThresholds off 3")
    scanner = "127.82.0.5"
    assert b.status("/", src=scanner) == 200
    for i in range(10):
        if a.status("/probe/shell%d.php" % i, src=scanner) == 403:
            break
    else:
        pytest.fail("A never banned the scanner")
    took = wait_for(lambda: b.status("/", src=scanner) == 403, 4, step=0.1)
    assert took is not None and took < 2.0, "B refused A's scanner after %s s" % took
    sys.stderr.write("\nA's ban reached B in %.2fs\n" % took)
    assert b.status("/", src="127.82.0.6") == 200
    # the LAPI holds it as ours, with A's machine, scenario and probe paths
    got = {d["value"]: (al, d) for al, d in lapi.decisions()}
    al, d = got[scanner]
    assert d["origin"] == "mod_wsguard" and d["scenario"] == "wsguard/php-shell"
    assert al["machine_id"] == "wsg-fleet-a" and "/probe/shell" in al["message"]


def test_outbox_symlink_planted_by_www_data_is_not_followed(httpd, lapi, tmp_path):
    """The outbox lives in the www-data-owned state directory: a symlink planted there (to a
    root-owned file, and dangling) is refused at the graceful, root writes and chowns nothing
    through it, and the site keeps serving."""
    import pwd
    import subprocess
    h = server(httpd, lapi, "prefork", "wsg-e2e-outbox")
    h.expect_log(r"AH19546.*outbox.*symbolic link")
    target = os.path.join(h.root, "conf", "root-owned.txt")
    with open(target, "w") as f:
        f.write("root's\n")
    ghost = os.path.join(h.root, "conf", "ghost")
    outbox = os.path.join(h.state_dir, "outbox.mdb")
    for dest in (target, ghost):
        # Swapped in by a rename, as an attacker would: the running children may recreate
        # the outbox at any moment, so an unlink then a link could find the name taken.
        subprocess.run(["ln", "-sfn", dest, outbox + ".planted"], check=True, user="www-data")
        subprocess.run(["mv", "-fT", outbox + ".planted", outbox], check=True, user="www-data")
        h.graceful()
        assert h.status("/", src="127.81.0.1") == 200
        assert h.wait_error_line(r"AH19546.*outbox.*symbolic link", timeout=3)
        st = os.stat(target)
        assert (st.st_uid, open(target).read()) == (0, "root's\n")
        assert not os.path.exists(ghost)
    assert pwd.getpwuid(os.stat(target).st_uid).pw_name == "root"
