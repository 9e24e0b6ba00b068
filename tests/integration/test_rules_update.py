"""scripts/wsguard-rules-update against a real httpd: a rule file with the right SHA-256 is
installed and in force after the graceful restart; a wrong checksum or a broken file changes
nothing and the rules in force stay."""
import hashlib
import os
import stat
import subprocess

import wsg_httpd

UPDATER = os.path.join(wsg_httpd.build_dir(), "wsguard-rules-update")   # made by make from scripts/
OLD = 'id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'
NEW = 'id=9002 score=5 tag=php-shell msg="new probe" path.prefix=/newprobe/\n'


def start_server(httpd, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-test.rules").write_text(OLD)
    os.chmod(tmp_path, 0o755)
    os.chmod(rules, 0o755)
    h = httpd(mpm="event", rules=None,
              wsguard="WSGuardRules %s\nWSGuardAllow none\nWSGuardThresholds off 5" % rules)
    h.start()
    # apachectl for this instance: configtest and graceful, as the updater calls them.
    ctl = tmp_path / "apachectl"
    ctl.write_text('#!/bin/sh\ncase "$1" in\n'
                   'configtest) exec %s -d %s -f %s -t ;;\n'
                   'graceful) exec %s -d %s -f %s -k graceful ;;\n'
                   'esac\nexit 2\n' % ((wsg_httpd.APACHE, h.root, h.conf_path) * 2))
    ctl.chmod(ctl.stat().st_mode | stat.S_IEXEC)
    return h, rules, ctl


def update(rules, ctl, src, sha):
    return subprocess.run([UPDATER, "--sha256", sha, "--dest", str(rules), "--apachectl", str(ctl),
                           "--wsguardctl", wsg_httpd.wsguardctl_path(), str(src)],
                          capture_output=True, text=True, timeout=60)


def test_update_installs_checked_rules_or_changes_nothing(httpd, tmp_path):
    h, rules, ctl = start_server(httpd, tmp_path)
    assert h.status("/newprobe/a", src="127.60.0.2") == 404        # not a rule yet
    new = tmp_path / "20-new.rules"
    new.write_text(NEW)
    sha = hashlib.sha256(NEW.encode()).hexdigest()

    # A wrong checksum: nothing installed, exit 1.
    p = update(rules, ctl, new, "0" * 64)
    assert p.returncode == 1, p.stderr
    assert sorted(os.listdir(rules)) == ["10-test.rules"], os.listdir(rules)

    # The right one: installed, checked, configtest, graceful; the new rule is in force.
    p = update(rules, ctl, new, sha)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (rules / "20-new.rules").read_text() == NEW
    assert h.wait_error_line(r"AH19403: 2 rules loaded", timeout=10), h.read_error_log()[-2000:]
    assert h.status("/newprobe/b", src="127.61.0.2") == 403         # score 5 reaches the ban

    # A broken file with a matching checksum: refused before install, the rules stay in force.
    broken = tmp_path / "30-broken.rules"
    broken.write_text("id=9003 score=oops tag=x msg=m path.prefix=/x/\n")
    p = update(rules, ctl, broken, hashlib.sha256(broken.read_bytes()).hexdigest())
    assert p.returncode == 1, p.stdout + p.stderr
    assert "30-broken.rules:1:" in p.stdout + p.stderr
    assert not (rules / "30-broken.rules").exists()
    assert h.status("/newprobe/c", src="127.62.0.2") == 403
