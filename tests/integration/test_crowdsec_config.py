"""WSGuardCrowdSec: `apachectl configtest` accepts the documented spelling and names what is wrong
otherwise (the option, the file, the mode); credentials come from private files only.
No LAPI is needed: nothing connects at configuration time."""
import os

import pytest


def secret(h, name, text="s3cret-value\n", mode=0o600):
    p = os.path.join(h.root, "conf", name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)
    return p


def test_configtest_accepts_the_documented_spellings(httpd):
    h = httpd()
    pw, key = secret(h, "pw"), secret(h, "key", "0123456789abcdef\n")
    for line in ("WSGuardCrowdSec http://127.0.0.1:8080/ machine=web01 password-file=%s "
                 "bouncer-key-file=%s interval=1s" % (pw, key),
                 "WSGuardCrowdSec http://127.0.0.1:8080 machine=web01 password-file=%s" % pw,
                 "WSGuardCrowdSec https://lapi.example:8443/v1 bouncer-key-file=%s interval=5m resync=15m" % key,
                 "WSGuardCrowdSec http://[::1]:8080/ bouncer-key-file=%s ca-file=/etc/ssl/certs/"
                 "ca-certificates.crt" % key):
        h.write_config(wsguard=line)
        rc, out = h.configtest()
        assert rc == 0 and "Syntax OK" in out, "%s\n%s" % (line, out)


BAD = [
    # (directive after the files pw, key, open exist; what the message must name)
    ("WSGuardCrowdSec", "needs the LAPI's URL"),
    ("WSGuardCrowdSec ftp://127.0.0.1:8080/ bouncer-key-file={key}", "ftp://127.0.0.1:8080/"),
    ("WSGuardCrowdSec http:///nohost bouncer-key-file={key}", "http:///nohost"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/v1/decisions bouncer-key-file={key}", "/v1/decisions"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/", "nothing to do"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ machine=web01", "password-file= go together"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ password-file={pw}", "password-file= go together"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ machine=web01 password-file=/nonexistent/pw",
     "/nonexistent/pw"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={open}", "chmod 600"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={empty}", "is empty"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={two}", "more than one line"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} interval=0s", "interval=0s"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} interval=soon", "interval=soon"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} resync=1s", "resync=1s"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} resync=never", "resync=never"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} colour=blue", "colour=blue"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} machine", "'machine'"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} ca-file=/nonexistent/ca.pem",
     "/nonexistent/ca.pem"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key} cert-file={key}",
     "cert-file= and key-file= go together"),
    ("WSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key}\n"
     "WSGuardCrowdSec http://127.0.0.1:8081/ bouncer-key-file={key}", "given twice"),
    ("<VirtualHost 127.0.0.1:8>\nWSGuardCrowdSec http://127.0.0.1:8080/ bouncer-key-file={key}\n"
     "</VirtualHost>", "VirtualHost"),
]


@pytest.mark.parametrize("line,name", BAD, ids=[str(i) for i in range(len(BAD))])
def test_configtest_names_what_is_wrong(httpd, line, name):
    h = httpd()
    files = {"pw": secret(h, "pw"), "key": secret(h, "key"), "open": secret(h, "open", mode=0o644),
             "empty": secret(h, "empty", "\n"), "two": secret(h, "two", "a\nb\n")}
    line = line.format(**files)
    h.write_config(wsguard=line)
    rc, out = h.configtest()
    assert rc != 0, "configtest accepted %r:\n%s" % (line, out)
    assert "WSGuardCrowdSec" in out and name in out, out
    assert h.conf_path in out, out                      # httpd adds "on line N of FILE"
