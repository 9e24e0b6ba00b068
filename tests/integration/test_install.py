"""The build a packager expects, without httpd: `make install DESTDIR=...` and `make uninstall`
write nothing outside DESTDIR (run in a sandbox whose only writable places are DESTDIR and the
build directory, so a stray write fails the install), the installed scripts carry the configured
paths, every program has --version, wsguardctl's top-level help lists every verb and every option
of each verb's own help, the man pages document every directive of the README and every verb,
and wsguard-rules-update never touches the local rules."""
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile

import pytest

import wsg_httpd

# Not again in make integration-asan: nothing here runs the module, and its build directory holds
# only the sanitized module and wsguardctl.
pytestmark = pytest.mark.skipif(bool(os.environ.get("WSG_SANITIZER_LOGS")),
                                reason="packaging checks run in the plain integration pass")

REPO = wsg_httpd.REPO
B = wsg_httpd.build_dir()
MAN = os.path.join(B, "man")     # made by make from man/ with the configured paths


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, **kw)


def make_vars():
    """The configured paths, as make sees them."""
    p = run(["make", "-s", "-C", REPO, "B=" + B, "-f", "Makefile", "-f", "-", "print-paths"],
            input="print-paths:\n\t@echo $(prefix) $(bindir) $(sbindir) $(APACHE_MODDIR) "
                  "$(RULES_DIR) $(LOCAL_RULES_DIR) $(STATE_DIR) $(mandir)\n")
    assert p.returncode == 0, p.stderr
    keys = "prefix bindir sbindir moddir rules local state mandir".split()
    return dict(zip(keys, p.stdout.split()))


def sandboxed_make(target, destdir):
    """make TARGET DESTDIR=destdir with the whole file system read-only but destdir and the build
    directory (bubblewrap): any write elsewhere fails the command."""
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is missing: sh scripts/deps.sh")
    return run(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--bind", destdir, destdir, "--bind", B, B,
                "make", "-s", "-C", REPO, "B=" + B, target, "DESTDIR=" + destdir])


def files_under(d):
    out = set()
    for root, _dirs, files in os.walk(d):
        for f in files:
            out.add(os.path.relpath(os.path.join(root, f), d))
    return out


def test_install_and_uninstall_write_only_into_destdir(tmp_path):
    v = make_vars()
    dest = str(tmp_path / "dest")
    os.mkdir(dest)
    p = sandboxed_make("install", dest)
    assert p.returncode == 0, p.stdout + p.stderr
    got = files_under(dest)
    rel = lambda d: d.lstrip("/")  # noqa: E731
    shipped = {os.path.join(rel(v["rules"]), f) for f in os.listdir(os.path.join(REPO, "rules"))
               if f.endswith(".rules")}
    want = {os.path.join(rel(v["moddir"]), "mod_wsguard.so"),
            os.path.join(rel(v["bindir"]), "wsguardctl"),
            os.path.join(rel(v["sbindir"]), "wsguard-fwsync"),
            os.path.join(rel(v["sbindir"]), "wsguard-rules-update"),
            os.path.join(rel(v["local"]), "90-local.rules"),
            os.path.join(rel(v["mandir"]), "man8", "wsguardctl.8"),
            os.path.join(rel(v["mandir"]), "man8", "wsguard-fwsync.8"),
            os.path.join(rel(v["mandir"]), "man8", "wsguard-rules-update.8"),
            os.path.join(rel(v["mandir"]), "man7", "mod_wsguard.7")} | shipped
    assert got == want, (sorted(got - want), sorted(want - got))
    # every installed path lies under the prefix (a default /usr/local build keeps off /usr/lib)
    for f in got:
        assert ("/" + f).startswith(v["prefix"].rstrip("/") + "/"), f

    # the scripts carry the configured paths, not the templates' tokens
    for s in ("wsguard-fwsync", "wsguard-rules-update"):
        text = open(os.path.join(dest, rel(v["sbindir"]), s)).read()
        assert not re.search(r"@WSG_[A-Z_]+@", text), s
    upd = open(os.path.join(dest, rel(v["sbindir"]), "wsguard-rules-update")).read()
    assert "DEST=${WSGUARD_RULES:-%s}" % v["rules"] in upd
    assert "LOCAL=%s" % v["local"] in upd
    fw = open(os.path.join(dest, rel(v["sbindir"]), "wsguard-fwsync")).read()
    assert "STATE_DIR=${WSGUARD_STATE_DIR:-%s}" % v["state"] in fw

    # an admin's own local rule survives uninstall, everything installed goes
    own = os.path.join(dest, rel(v["local"]), "95-mine.rules")
    with open(own, "w") as f:
        f.write('id=600001 score=1 tag=x msg=m path.eq=/mine.php\n')
    p = sandboxed_make("uninstall", dest)
    assert p.returncode == 0, p.stdout + p.stderr
    assert files_under(dest) == {os.path.relpath(own, dest)}


def test_every_program_has_version():
    for prog in ("wsguardctl", "wsguard-fwsync", "wsguard-rules-update"):
        p = run([os.path.join(B, prog), "--version"])
        assert p.returncode == 0, prog + p.stderr
        assert re.match(r"^%s \(mod_wsguard\) \d+\.\d+\.\d+" % re.escape(prog), p.stdout), p.stdout
    out = run([os.path.join(B, "wsguardctl"), "--version"]).stdout
    v = make_vars()
    assert "rules: %s\n" % v["rules"] in out and "state: %s\n" % v["state"] in out, out


def verb_options(ctl, verb, sub=None):
    """The options a verb's own --help shows in its usage lines."""
    args = [ctl, verb] + ([sub] if sub else []) + ["--help"]
    p = run(args)
    text = p.stdout + p.stderr
    usage = [ln for ln in text.splitlines() if ln.lstrip().startswith(("usage:", "wsguardctl"))
             or (ln.startswith(" " * 10) and "[" in ln)]
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", "\n".join(usage))) - {"-", "--help"}


VERBS = ["list", "show", "ban", "unban", "stats", "top", "purge", "export", "import", "report",
         "rules"]


def test_top_level_help_lists_every_verb_and_option():
    ctl = wsg_httpd.wsguardctl_path()
    top = run([ctl, "--help"]).stdout
    assert "--version" in top and "-d STATEDIR" in top
    listed = set(re.findall(r"^  ([a-z]+) ", top, re.M))
    assert set(VERBS) <= listed, set(VERBS) - listed
    for verb in VERBS:
        opts = verb_options(ctl, verb)
        assert opts or verb in ("unban", "rules"), verb
        block = re.search(r"^  %s .*?(?=^  (?!%s )[a-z]+ |\n\n)" % (verb, verb), top,
                          re.M | re.S).group(0)
        missing = {o for o in opts if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), block)}
        assert not missing, "wsguardctl --help lacks %s of '%s'" % (sorted(missing), verb)


def readme_directives():
    text = open(os.path.join(REPO, "README.md")).read()
    return sorted(set(re.findall(r"^\| `(WSGuard[A-Za-z]+)", text, re.M)))


def test_man_pages_document_every_directive_and_verb():
    page7 = open(os.path.join(MAN, "mod_wsguard.7")).read()
    ds = readme_directives()
    assert len(ds) >= 11, ds
    for d in ds:
        assert re.search(r"^\.B[IR]? %s\b" % d, page7, re.M) or re.search(
            r"^\.TP\n\.B[IR]? \"?%s\b" % d, page7, re.M), "mod_wsguard(7) lacks %s" % d
    page8 = open(os.path.join(MAN, "wsguardctl.8")).read()
    for v in VERBS:
        assert re.search(r"^\.B[IR]? %s\b" % v, page8, re.M), "wsguardctl(8) lacks the verb %s" % v
    for prog in ("wsguard-fwsync", "wsguard-rules-update"):
        page = open(os.path.join(MAN, prog + ".8")).read()
        assert "--version" in page.replace("\\-", "-"), prog
    # the configured paths are in, and man itself finds nothing wrong in them
    for f in os.listdir(MAN):
        assert not re.search(r"@WSG_[A-Z_]+@", open(os.path.join(MAN, f)).read()), f
        p = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", os.path.join(MAN, f)],
                env=dict(os.environ, MANROFFSEQ="", MANWIDTH="80", LC_ALL="C.UTF-8"))
        assert p.returncode == 0 and not p.stderr.strip(), f + ": " + p.stderr


def test_rules_update_keeps_local_rules(tmp_path):
    shipped = tmp_path / "share" / "rules"
    local = tmp_path / "etc" / "rules.d"
    shipped.mkdir(parents=True)
    local.mkdir(parents=True)
    (shipped / "10-a.rules").write_text('id=100001 score=1 tag=x msg=a path.eq=/a.php\n')
    mine = 'id=600001 score=1 tag=x msg=mine path.eq=/mine.php\n'
    (local / "90-local.rules").write_text(mine)
    upd = os.path.join(B, "wsguard-rules-update")
    common = ["--dest", str(shipped), "--local", str(local), "--apachectl", "true",
              "--wsguardctl", wsg_httpd.wsguardctl_path(), "--no-reload"]

    def bundle(files):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            for name, text in files.items():
                data = text.encode()
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        path = tmp_path / ("b%d.tar.gz" % len(os.listdir(tmp_path)))
        path.write_bytes(buf.getvalue())
        return path, hashlib.sha256(buf.getvalue()).hexdigest()

    # A bundle replaces every shipped file; the local directory is untouched.
    b, sha = bundle({"20-b.rules": 'id=200001 score=1 tag=x msg=b path.eq=/b.php\n'})
    p = run([upd, "--sha256", sha] + common + [str(b)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(os.listdir(shipped)) == ["20-b.rules"]
    assert os.listdir(local) == ["90-local.rules"] and (local / "90-local.rules").read_text() == mine

    # An update whose ids collide with a local rule is refused (the set is checked with them).
    b, sha = bundle({"30-c.rules": 'id=600001 score=1 tag=x msg=c path.eq=/c.php\n'})
    p = run([upd, "--sha256", sha] + common + [str(b)])
    assert p.returncode == 1 and "600001" in p.stderr, p.stdout + p.stderr
    assert sorted(os.listdir(shipped)) == ["20-b.rules"]

    # The local directory itself is never a destination.
    f = tmp_path / "x.rules"
    f.write_text('id=300001 score=1 tag=x msg=x path.eq=/x.php\n')
    p = run([upd, "--sha256", hashlib.sha256(f.read_bytes()).hexdigest(), "--dest", str(local),
             "--local", str(local), "--apachectl", "true", "--no-reload",
             "--wsguardctl", wsg_httpd.wsguardctl_path(), str(f)])
    assert p.returncode == 1 and "local rules" in p.stderr, p.stderr
    assert os.listdir(local) == ["90-local.rules"]


def test_configure_without_cmocka_warns_and_make_unit_says_why(tmp_path):
    """A production build needs no cmocka: configure succeeds with a warning, `make unit` stops
    with a message naming the package (cmocka hidden from pkg-config in a sandbox)."""
    pc = run(["pkg-config", "--variable=pcfiledir", "cmocka"]).stdout.strip()
    if not pc or shutil.which("bwrap") is None:
        pytest.fail("cmocka's pkg-config file or bubblewrap is missing: sh scripts/deps.sh")
    if not os.path.exists(os.path.join(REPO, "configure")):
        pytest.fail("no ./configure: run scripts/build.sh first")
    src = tmp_path / "src"
    src.mkdir()
    files = run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard"]).stdout.split()
    for f in files + ["configure", "build-aux/install-sh", "build-aux/compile"]:
        if os.path.exists(os.path.join(REPO, f)):
            os.makedirs(os.path.dirname(str(src / f)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, f), str(src / f))
    hide = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--bind", str(src), str(src), "--ro-bind", "/dev/null", os.path.join(pc, "cmocka.pc")]
    p = run(hide + ["sh", "-c", "cd %s && ./configure" % src])
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "WARNING: cmocka not found" in p.stderr + p.stdout
    p = run(hide + ["make", "-s", "-C", str(src), "unit"])
    assert p.returncode != 0
    assert "the unit tests need cmocka" in p.stderr and "libcmocka-dev" in p.stderr, p.stderr
