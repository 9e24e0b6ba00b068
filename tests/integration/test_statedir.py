"""Issue 12, the state directory as an attacker with www-data's rights (a web shell) sees it: it
owns the directory, so it can plant `lock.mdb` / `data.mdb` symlinks there. Neither httpd's root
parent (at start, at every graceful) nor wsguardctl run by root (every verb that opens the store)
may write, create or chown anything through them: the target stays as it was (content, mode,
owner root) and a dangling link's target is not created; the site keeps serving (200) and says
why in the error log (AH19405). A group/world-writable state directory is refused the same way.
"""
import os
import stat
import subprocess

import pytest

LINK_NAMES = ["lock.mdb", "data.mdb"]
KINDS = ["file", "dangling"]
# Every verb that opens the store, with the arguments it needs (import's file is added below).
CTL_VERBS = [
    ["list"], ["list", "--banned", "--json"], ["show", "45.1.2.3"], ["ban", "45.1.2.3"],
    ["unban", "45.1.2.3"], ["stats"], ["top"], ["purge"], ["export", "--format", "plain"],
    ["export", "--format", "nft", "-o", "{root}/conf/out.nft"], ["import", "{root}/conf/feed.txt"],
]
REFUSED = r"AH19405: .*state directory %s unusable, clients are not tracked"


def as_www_data(*cmd):
    """Runs cmd as the attacker: www-data, no other group."""
    subprocess.run(list(cmd), check=True, user="www-data", group="www-data", extra_groups=[],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")


class Victim:
    """A root-owned file in the test's dir (what a link points at) and a name that must stay
    absent (what a dangling link points at). conf/ is root's: www-data cannot write there."""

    def __init__(self, h):
        self.path = os.path.join(h.root, "conf", "victim")
        self.ghost = os.path.join(h.root, "conf", "ghost")
        with open(self.path, "w") as f:
            f.write("root's precious data\n")
        os.chmod(self.path, 0o644)
        self.before = self.snap()

    def snap(self):
        st = os.lstat(self.path)
        with open(self.path, "rb") as f:
            return (f.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink)

    def target(self, kind):
        return self.path if kind == "file" else self.ghost

    def check(self, when):
        assert self.snap() == self.before, "%s: %s was changed: %r -> %r" % (
            when, self.path, self.before, self.snap())
        assert os.lstat(self.path).st_uid == 0
        assert not os.path.lexists(self.ghost), "%s: %s was created" % (when, self.ghost)


def plant(h, name, target):
    """www-data replaces state/NAME with a symlink to target."""
    link = os.path.join(h.state_dir, name)
    as_www_data("rm", "-f", link)
    as_www_data("ln", "-s", target, link)
    assert os.path.islink(link)
    return link


def serving(h):
    assert h.status("/") == 200
    assert h.status("/probe/x", src="127.60.0.2") == 404     # scored or not: served, no 5xx


def state_ready(httpd, **kw):
    """A server that has made its state dir (www-data's) once, then stopped."""
    h = httpd(**kw)
    h.start()
    serving(h)
    h.stop()
    st = os.stat(h.state_dir)
    assert st.st_uid != 0 and stat.S_IMODE(st.st_mode) == 0o750
    return h


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", LINK_NAMES)
def test_symlink_refused_at_start(httpd, name, kind):
    h = state_ready(httpd)
    v = Victim(h)
    link = plant(h, name, v.target(kind))
    h.expect_log(REFUSED % h.state_dir)
    h.start()
    serving(h)
    lines = h.wait_error_line(r"AH19405")
    assert lines and ("%s is a symbolic link: refusing to follow it" % link) in lines[-1], lines
    v.check("start")
    assert os.path.islink(link) and os.readlink(link) == v.target(kind)    # left for the admin


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", LINK_NAMES)
def test_symlink_refused_at_graceful(httpd, name, kind):
    h = httpd(mpm="event")
    h.start()
    serving(h)
    v = Victim(h)
    link = plant(h, name, v.target(kind))
    h.expect_log(REFUSED % h.state_dir)
    h.graceful()
    serving(h)
    lines = h.wait_error_line(r"AH19405")
    assert lines and ("%s is a symbolic link" % link) in lines[-1], lines
    v.check("graceful")
    # A second graceful (the admin has not fixed it yet): still refused, still untouched.
    h.graceful()
    serving(h)
    assert len(h.error_lines(r"AH19405")) == 2
    v.check("second graceful")
    # Fixed: the next graceful tracks clients again.
    os.unlink(link)
    h.graceful()
    assert h.statuses(["/probe/a"] * 3, src="127.61.0.2")[-1] in (404, 429, 403)
    rc, out, err = h.ctl("list")
    assert rc == 0 and "127.61.0.2" in out, (out, err)


def run_verbs(h):
    """[(verb, rc, stderr)] of every store-opening verb, run as root."""
    with open(os.path.join(h.root, "conf", "feed.txt"), "w") as f:
        f.write("45.9.9.9\n")
    out = []
    for args in CTL_VERBS:
        args = [a.format(root=h.root) for a in args]
        rc, _, err = h.ctl(*args)
        out.append((" ".join(args), rc, err))
    return out


@pytest.mark.parametrize("name", LINK_NAMES)
def test_symlink_refused_by_every_verb(httpd, name):
    h = httpd()
    h.start()
    # A child started meanwhile (prefork keeps spares) opens the state by its path as www-data: it
    # follows the link with www-data's rights, is refused and serves without tracking.
    h.expect_log(r"AH19407: cannot open state in %s, this child serves without tracking: .*"
                 r"Permission denied" % h.state_dir)
    v = Victim(h)
    for kind in KINDS:
        link = plant(h, name, v.target(kind))
        for verb, rc, err in run_verbs(h):
            assert rc == 1, (verb, rc, err)
            assert "wsguardctl: refusing the state in %s" % h.state_dir in err, (verb, err)
            assert "%s is a symbolic link" % link in err, (verb, err)
            v.check("wsguardctl %s (%s link)" % (verb, kind))
        assert not os.path.exists(os.path.join(h.root, "conf", "out.nft"))
    serving(h)


def test_world_writable_dir_refused(httpd):
    h = state_ready(httpd)
    os.chmod(h.state_dir, 0o777)
    h.expect_log(REFUSED % h.state_dir)
    h.start()
    serving(h)
    lines = h.wait_error_line(r"AH19405")
    assert lines, h.read_error_log()
    assert "is writable by group or others (mode 0777)" in lines[-1], lines
    assert "chmod 0750 %s" % h.state_dir in lines[-1], lines
    rc, _, err = h.ctl("list")
    assert rc == 1 and "mode 0777" in err and "chmod 0750" in err, err
    # Fixed as told: tracking resumes at the next graceful.
    os.chmod(h.state_dir, 0o750)
    h.graceful()
    assert h.status("/probe/a", src="127.62.0.2") == 404
    rc, out, err = h.ctl("list")
    assert rc == 0 and "127.62.0.2" in out, (out, err)


def test_dir_symlink_refused(httpd):
    """The state directory itself a symlink (to a root-owned dir with a file root cares about)."""
    h = state_ready(httpd)
    real = os.path.join(h.root, "conf", "elsewhere")
    os.mkdir(real, 0o750)
    keep = os.path.join(real, "data.mdb")
    with open(keep, "w") as f:
        f.write("not LMDB\n")
    os.rename(h.state_dir, h.state_dir + ".old")
    os.symlink(real, h.state_dir)
    h.expect_log(REFUSED % h.state_dir)
    h.start()
    serving(h)
    lines = h.wait_error_line(r"AH19405")
    assert lines and "state directory %s is a symbolic link" % h.state_dir in lines[-1], lines
    with open(keep) as f:
        assert f.read() == "not LMDB\n"
    assert sorted(os.listdir(real)) == ["data.mdb"]
    rc, _, err = h.ctl("list")
    assert rc == 1 and "is a symbolic link" in err, err


def test_cli_works_as_the_owner(httpd):
    """wsguardctl run by root on www-data's state opens it as www-data: what it creates there is
    www-data's, not root's (the LMDB open follows whatever is there with www-data's rights)."""
    h = state_ready(httpd)
    www = os.stat(h.state_dir).st_uid
    os.unlink(os.path.join(h.state_dir, "lock.mdb"))
    rc, out, err = h.ctl("ban", "45.1.2.3")
    assert rc == 0, err
    assert os.stat(os.path.join(h.state_dir, "lock.mdb")).st_uid == www
    # export -o keeps root for writing its file, the store is still opened as www-data
    os.unlink(os.path.join(h.state_dir, "lock.mdb"))
    target = os.path.join(h.root, "conf", "ban.txt")
    rc, out, err = h.ctl("export", "--format", "plain", "-o", target)
    assert rc == 0, err
    assert os.stat(os.path.join(h.state_dir, "lock.mdb")).st_uid == www
    assert os.stat(target).st_uid == 0
    with open(target) as f:
        assert "45.1.2.3" in f.read()
    # and the server accepts what the CLI made
    h.start()
    serving(h)
    rc, out, err = h.ctl("list", "--banned")
    assert rc == 0 and "45.1.2.3" in out, (out, err)
