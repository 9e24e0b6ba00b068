"""Rules on body parameter names see the first bytes of a form POST, also when the handler never
reads the body (a 404): the shell-checker's password guess is scored, a login form is not."""
import os

import wsg_httpd

SHIPPED = os.path.join(os.path.dirname(wsg_httpd.__file__), "..", "..", "rules")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_password_guess_in_body_is_scored(httpd, mpm):
    h = httpd(mpm=mpm, rules=os.path.abspath(SHIPPED),
              wsguard="WSGuardAllow none\nWSGuardThresholds off 10",
              files={"index.html": "hi\n", "wp-login.php": "login form\n"})
    h.start()
    # The shell checker POSTs pass=<guess>&watching=submit to every name on its list.
    r = wsg_httpd.request(h.port, "/wp-content/plugins/foo/about.php", src="127.31.0.2",
                          method="POST", body="pass=123456&watching=submit", headers=FORM)
    assert r.status == 404
    ev = h.wait_events(lambda e: e.get("client") == "127.31.0.2")
    assert len(ev) == 1, ev
    assert 400001 in ev[0]["rules"] and ev[0]["tag"] == "password-probe", ev[0]
    assert ev[0]["score"] >= 5, ev[0]
    # The same body to a real login form (a file that exists): nothing scored.
    r = wsg_httpd.request(h.port, "/wp-login.php", src="127.32.0.2", method="POST",
                          body="log=admin&pwd=secret&wp-submit=Log+In", headers=FORM)
    assert r.status == 200
    # A multipart upload is not read by the module at all.
    r = wsg_httpd.request(h.port, "/index.html", src="127.32.0.2", method="POST",
                          body="--x\r\n\r\npass=1&watching=submit\r\n--x--\r\n",
                          headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status == 200
    assert h.events(client="127.32.0.2") == []
