"""Expired records are purged while httpd runs: a scanner whose score has decayed to nothing and
whose ban is over disappears from the state, without a restart (a full map would otherwise stay
full). With a 1 s half-life a record expires in about 8 s and the purge runs every half-life."""
import time

import wsg_httpd


def listed(h):
    rc, out, err = h.ctl("list")
    assert rc == 0, err
    return out


def test_expired_records_purged_while_running(httpd):
    h = httpd(mpm="event", wsguard="WSGuardAllow none\nWSGuardThresholds off 3\n"
                                   "WSGuardScoreHalfLife 1s\nWSGuardBanTime 1s max=1s")
    h.start()
    assert h.statuses(["/probe/a", "/probe/b", "/probe/c"], src="127.50.0.2") == [404, 404, 403]
    assert "127.50.0.2" in listed(h)
    # Score 3 halves every second: below 0.01 after ~8.2 s; the 1 s ban is long over by then.
    time.sleep(9)
    # Another client's scored request drives the purge (it runs in the write path).
    deadline = time.time() + 10
    while time.time() < deadline:
        assert h.status("/probe/x", src="127.51.0.2") in (404, 403)
        if "127.50.0.2" not in listed(h):
            break
        time.sleep(0.5)
    out = listed(h)
    assert "127.50.0.2" not in out, out
    assert "127.51.0.2" in out, out
