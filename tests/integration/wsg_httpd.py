"""wsg_httpd: a real Apache httpd with mod_wsguard for the integration tests.

Each WSGHttpd writes a complete standalone configuration into its own directory (ServerRoot), starts
/usr/sbin/apache2 on 127.0.0.1 with a free port, and knows how to graceful/stop/restart/configtest it
and to read its error, access and event logs. Clients (see request()) bind their own loopback source
address, so one test can be many different scanners; every 127.a.b.c is local on Linux.

Nothing here is mod_wsguard-specific beyond the LoadModule line and the WSGuard* defaults, so the
other suites (firewall, CLI, report) can use it too.
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

APACHE = os.environ.get("WSG_APACHE", "/usr/sbin/apache2")
APACHE_MODULES = os.environ.get("WSG_APACHE_MODULES", "/usr/lib/apache2/modules")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_dir():
    """The build directory to test: $WSG_BUILD, default <repo>/build."""
    b = os.environ.get("WSG_BUILD", os.path.join(REPO, "build"))
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def module_path():
    return os.path.join(build_dir(), "mod_wsguard.so")


def wsguardctl_path():
    return os.path.join(build_dir(), "wsguardctl")


def corpus_dir():
    """$WSG_CORPUS, default <repo>/tests/corpus (in the repository: tests/corpus/README.md)."""
    return os.environ.get("WSG_CORPUS") or os.path.join(REPO, "tests", "corpus")


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- the client ----------------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # lower-case name -> value (last one wins)
        self.body = body

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.reason)


class ClientError(Exception):
    """No HTTP answer at all (reset, timeout, empty reply): never what a serving site does."""


def _dechunk(data):
    out = b""
    while data:
        line, _, rest = data.partition(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def request(port, path, src="127.9.0.2", method="GET", host="127.0.0.1", headers=None,
            body=None, timeout=10.0):
    """One HTTP/1.1 request on a NEW connection from source address src, the request-target sent
    exactly as given (no normalisation, so evasion tricks reach the server intact).
    Returns a Response; raises ClientError when the server gives no HTTP answer."""
    hdrs = {"Host": "localhost", "User-Agent": "wsg-it/1.0", "Connection": "close"}
    if headers:
        hdrs.update(headers)
    if isinstance(body, str):
        body = body.encode()
    if body is not None:
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        hdrs["Content-Length"] = str(len(body))
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    data = head.encode("latin-1") + (body or b"")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if src:
            sock.bind((src, 0))
        sock.connect((host, port))
        sock.sendall(data)
        chunks = []
        while True:
            c = sock.recv(65536)
            if not c:
                break
            chunks.append(c)
    except (OSError, socket.timeout) as e:
        raise ClientError("%s %s from %s: %s" % (method, path, src, e))
    finally:
        sock.close()
    raw = b"".join(chunks)
    if not raw:
        raise ClientError("%s %s from %s: empty reply" % (method, path, src))
    head, _, rbody = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0])
    if not m:
        raise ClientError("%s %s from %s: bad status line %r" % (method, path, src, lines[0]))
    rh = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        rh[k.strip().lower()] = v.strip()
    if rh.get("transfer-encoding", "").lower() == "chunked":
        rbody = _dechunk(rbody)
    return Response(int(m.group(1)), m.group(2), rh, rbody)


def status(port, path, src="127.9.0.2", **kw):
    return request(port, path, src=src, **kw).status


# --- the server ----------------------------------------------------------------------------------

MPMS = ("prefork", "event")

MPM_CONF = {
    # 16 children, never recycled, all started at once: consecutive connections land on many of them.
    # MinSpareServers is low so a busy moment does not make the parent ask for a 17th (AH00161).
    "prefork": """LoadModule mpm_prefork_module {mods}/mod_mpm_prefork.so
StartServers 16
MinSpareServers 1
MaxSpareServers 16
ServerLimit 16
MaxRequestWorkers 16
MaxConnectionsPerChild 0
""",
    # 4 processes x 4 threads: several threads per process share one LMDB handle.
    "event": """LoadModule mpm_event_module {mods}/mod_mpm_event.so
ServerLimit 4
StartServers 4
ThreadLimit 4
ThreadsPerChild 4
MinSpareThreads 4
MaxSpareThreads 16
MaxRequestWorkers 16
MaxConnectionsPerChild 0
""",
}

# Error-log severities a test fails on unless it declared the line expected.
BAD_LEVELS = ("emerg", "alert", "crit", "error")
# httpd's own, not the module's: during a graceful restart the event MPM may log that it could not
# add a connection closing at that moment to its pollset (AH03092, EBADF). Seen once in many runs,
# more often when the module is slowed by the sanitizers; not a failure of anything under test.
HTTPD_BENIGN = [re.compile(r"\[mpm_event:error\].*AH03092: process_lingering_close: apr_pollset_add failure"),
                # httpd's own note that all 16 workers were busy at a moment of the test's load
                # (more often with the module slowed by the sanitizers): a busy server, no failure.
                re.compile(r"\[mpm_(prefork|event):error\].*AH00(161|484): server reached MaxRequestWorkers"),
                # the event MPM's note a moment before that one (idle threads near the limit)
                re.compile(r"\[mpm_event:error\].*AH10159: server is within MinSpareThreads of MaxRequestWorkers")]
LOG_LINE = re.compile(r"^\[[^\]]*\] \[(?:(?P<mod>[\w.-]*):)?(?P<level>\w+)\] ")

DEFAULT_FILES = {
    "index.html": "<html><body>hello</body></html>\n",
    "robots.txt": "User-agent: *\n",
    "static/app.js": "console.log('hi');\n",
    "blog/index.php": "<?php echo 'static here, no PHP'; ?>\n",
}

# A tiny rule set in the rules language (rules/README.md): every request under /probe/ scores 1.
TEST_RULES = 'id=9001 score=1 tag=php-shell msg="test probe" path.prefix=/probe/\n'


def _chmod_tree_readable(path):
    for d, dirs, files in os.walk(path):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)


class WSGHttpd:
    """One httpd instance in its own ServerRoot. Typical use (see conftest.httpd):

        h = WSGHttpd(mpm="event", wsguard="WSGuardThresholds off 5\\nWSGuardAllow none")
        h.start(); h.get("/probe/x", src="127.9.0.2"); h.stop(); h.check_error_log()
    """

    def __init__(self, mpm="prefork", wsguard="", extra="", rules=TEST_RULES, files=None,
                 root=None, module=True, state_dir=None, event_log=True, loglevel="warn wsguard:info",
                 name=None, ipv6=False):
        assert mpm in MPM_CONF, mpm
        self.ipv6 = ipv6                # also Listen [::1]:port (same port)
        self.mpm = mpm
        self.wsguard = wsguard          # WSGuard* directives (server config)
        self.extra = extra              # any other directives, appended last
        self.module = module
        self.loglevel = loglevel
        if root is None:
            base = os.environ.get("WSG_TMP", "/tmp")
            root = tempfile.mkdtemp(prefix="%s-" % (name or "wsg-" + mpm), dir=base)
        self.root = root
        # httpd's children run as www-data and read the DocumentRoot: the tree must be world-readable.
        os.chmod(self.root, 0o755)
        for d in ("htdocs", "logs", "run", "conf"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        self.docroot = os.path.join(self.root, "htdocs")
        self.conf_path = os.path.join(self.root, "conf", "httpd.conf")
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.access_log = os.path.join(self.root, "logs", "access.log")
        self.event_log = os.path.join(self.root, "logs", "events.jsonl") if event_log else None
        self.pid_file = os.path.join(self.root, "run", "httpd.pid")
        # The state dir is NOT created here: the module must create it and chown it to User/Group.
        self.state_dir = state_dir or os.path.join(self.root, "state")
        self.rules_path = None
        if rules is not None:
            if isinstance(rules, str) and (os.path.isabs(rules) and os.path.exists(rules)):
                self.rules_path = rules
            else:
                self.rules_path = os.path.join(self.root, "conf", "test.rules")
                with open(self.rules_path, "w") as f:
                    f.write(rules)
        self.write_files(DEFAULT_FILES if files is None else files)
        self.port = free_port()
        self.expected = []              # regexes of error-log lines a test declared expected
        self._log_checked_upto = 0
        self.running = False
        self.write_config()

    # -- content --------------------------------------------------------------------------------
    def write_files(self, files):
        for rel, content in files.items():
            p = os.path.join(self.docroot, rel.lstrip("/"))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)
        _chmod_tree_readable(self.docroot)

    def config_text(self, wsguard=None, extra=None):
        wsguard = self.wsguard if wsguard is None else wsguard
        extra = self.extra if extra is None else extra
        mod = ""
        loglevel = self.loglevel
        if not self.module:
            loglevel = re.sub(r"\s*wsguard:\w+", "", loglevel)
        if self.module:
            mod = "LoadModule wsguard_module %s\n" % module_path()
        ws = ""
        if self.module:
            ws = "WSGuardStateDir %s\n" % self.state_dir
            if self.rules_path:
                ws += "WSGuardRules %s\n" % self.rules_path
            if self.event_log:
                ws += "WSGuardEventLog %s\n" % self.event_log
            # The crawler check asks a DNS resolver (the system's by default): never in a test
            # that did not give one of its own (wsg_dns.TinyDNS) and turn it On.
            ws += "WSGuardCrawlerCheck Off\n"
            ws += wsguard.strip() + "\n" if wsguard.strip() else ""
        return """# written by tests/integration/wsg_httpd.py
ServerRoot "{root}"
ServerName localhost
DefaultRuntimeDir {root}/run
PidFile {root}/run/httpd.pid
Mutex file:{root}/run default
ErrorLog {root}/logs/error.log
{mpm}
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_host_module {mods}/mod_authz_host.so
LoadModule mime_module {mods}/mod_mime.so
LoadModule dir_module {mods}/mod_dir.so
{mod}
LogLevel {loglevel}
User www-data
Group www-data
Listen 127.0.0.1:{port}
{listen6}KeepAlive Off
Timeout 20
TypesConfig /etc/mime.types
DocumentRoot {root}/htdocs
DirectoryIndex index.html index.php
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory {root}/htdocs>
    AllowOverride None
    Require all granted
</Directory>
LogFormat "%a %P %>s \\"%r\\"" wsg
CustomLog {root}/logs/access.log wsg
{ws}
{extra}
""".format(root=self.root, loglevel=loglevel, mpm=MPM_CONF[self.mpm].format(mods=APACHE_MODULES),
           mods=APACHE_MODULES, mod=mod, port=self.port,
           listen6=("Listen [::1]:%d\n" % self.port) if self.ipv6 else "", ws=ws, extra=extra)

    def write_config(self, wsguard=None, extra=None):
        if wsguard is not None:
            self.wsguard = wsguard
        if extra is not None:
            self.extra = extra
        with open(self.conf_path, "w") as f:
            f.write(self.config_text())

    # -- control --------------------------------------------------------------------------------
    def _apache(self, *args, timeout=30):
        cmd = [APACHE, "-d", self.root, "-f", self.conf_path] + list(args)
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, text=True, errors="replace")

    def configtest(self):
        """(returncode, output) of `apache2 -t` on the current config."""
        p = self._apache("-t")
        return p.returncode, p.stdout

    def pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _alive(self, pid):
        if not pid:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie is gone for our purposes.
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def _port_answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self, timeout=20):
        p = self._apache("-k", "start")
        if p.returncode != 0:
            raise RuntimeError("apache2 -k start failed (rc %d):\n%s\n--- error log:\n%s"
                               % (p.returncode, p.stdout, self.read_error_log()[-4000:]))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.pid() and self._port_answers():
                self.running = True
                self.wait_children()
                return
            time.sleep(0.1)
        raise RuntimeError("httpd did not answer on port %d within %ds\n--- error log:\n%s"
                           % (self.port, timeout, self.read_error_log()[-4000:]))

    def child_pids(self):
        """Pids of the current children of the parent (any generation)."""
        ppid = self.pid()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read().split(")")[-1].split()
                if int(st[1]) == ppid and st[0] != "Z":
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
        return out

    def wait_children(self, timeout=10):
        """Wait (bounded) until the configured number of children runs."""
        want = 16 if self.mpm == "prefork" else 4
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.child_pids()) < want:
            time.sleep(0.1)

    def _count(self, needle):
        return self.read_error_log().count(needle)

    def graceful(self, timeout=20, signal_only=False):
        """apache2 -k graceful, and wait until the new generation answers. `apache2 -k graceful`
        parses the config first and refuses to signal a broken one; signal_only=True sends SIGUSR1
        to the parent directly (what a reload without configtest does), so the module itself must
        cope with what it reads."""
        before = self._count("resuming normal operations")
        if signal_only:
            os.kill(self.pid(), signal.SIGUSR1)
        else:
            p = self._apache("-k", "graceful")
            if p.returncode != 0:
                raise RuntimeError("apache2 -k graceful failed (rc %d): %s" % (p.returncode, p.stdout))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._count("resuming normal operations") > before and self._port_answers():
                break
            if not self._alive(self.pid()):
                raise RuntimeError("httpd died on graceful:\n" + self.read_error_log()[-4000:])
            time.sleep(0.1)
        else:
            raise RuntimeError("graceful restart did not complete within %ds" % timeout)
        # Give the old generation's children time to go (keeps request/child accounting simple).
        time.sleep(0.5)
        self.wait_children(timeout=3)

    def stop(self, timeout=20):
        pid = self.pid()
        if not pid or not self._alive(pid):
            self.running = False
            return
        # SIGTERM is what `apache2 -k stop` sends, but -k stop parses the config first and refuses
        # to act on a broken one (a test may have broken it on purpose).
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline and self._alive(pid):
            time.sleep(0.1)
        if self._alive(pid):
            os.kill(pid, signal.SIGKILL)
            raise RuntimeError("httpd pid %d did not stop within %ds" % (pid, timeout))
        # Children of a stopped parent must not linger either (they hold the port and LMDB readers).
        deadline = time.time() + 5
        while time.time() < deadline and self._port_answers():
            time.sleep(0.1)
        self.running = False

    def restart(self):
        """A full stop and start with the same state dir."""
        self.stop()
        self.start()

    # -- requests -------------------------------------------------------------------------------
    def get(self, path, src="127.9.0.2", **kw):
        if ":" in (src or "") and "host" not in kw:
            kw["host"] = "::1"
        return request(self.port, path, src=src, **kw)

    def status(self, path, src="127.9.0.2", **kw):
        return self.get(path, src=src, **kw).status

    def statuses(self, paths, src="127.9.0.2", **kw):
        return [self.status(p, src=src, **kw) for p in paths]

    # -- logs -----------------------------------------------------------------------------------
    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def error_lines(self, pattern):
        rx = re.compile(pattern)
        return [ln for ln in self.read_error_log().splitlines() if rx.search(ln)]

    def wait_error_line(self, pattern, timeout=5):
        deadline = time.time() + timeout
        while True:
            lines = self.error_lines(pattern)
            if lines or time.time() > deadline:
                return lines
            time.sleep(0.1)

    def expect_log(self, *patterns):
        """Declare error-log lines (regexes) this test expects, so check_error_log() accepts them."""
        self.expected.extend(re.compile(p) for p in patterns)

    def unexpected_log_lines(self):
        bad = []
        for ln in self.read_error_log().splitlines():
            m = LOG_LINE.match(ln)
            if not m:
                continue
            level, mod = m.group("level"), m.group("mod") or ""
            if level in BAD_LEVELS or (level.startswith("warn") and "wsguard" in (mod + ln).lower()):
                if not any(rx.search(ln) for rx in self.expected + HTTPD_BENIGN):
                    bad.append(ln if len(ln) <= 600 else ln[:600] + "...")
        return bad

    def check_error_log(self):
        bad = self.unexpected_log_lines()
        assert not bad, "unexpected error-log lines in %s:\n%s" % (self.error_log, "\n".join(bad[:30]))

    def access_entries(self):
        """[(client, pid, status, request line)] from the access log."""
        out = []
        try:
            with open(self.access_log, errors="replace") as f:
                for ln in f:
                    m = re.match(r'(\S+) (\d+) (\d+) "(.*)"$', ln.rstrip("\n"))
                    if m:
                        out.append((m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)))
        except OSError:
            pass
        return out

    def events(self, client=None, event=None):
        """Parsed event-log lines (JSON), optionally filtered by client and event kind. Every line
        must be valid JSON: a torn or interleaved line fails the test."""
        out = []
        if not self.event_log or not os.path.exists(self.event_log):
            return out
        with open(self.event_log, errors="replace") as f:
            for n, ln in enumerate(f, 1):
                if not ln.strip():
                    continue
                try:
                    ev = json.loads(ln)
                except ValueError:
                    raise AssertionError("%s:%d: not a JSON line: %r" % (self.event_log, n, ln[:300]))
                if client and ev.get("client") != client:
                    continue
                if event and ev.get("event") != event:
                    continue
                out.append(ev)
        return out

    def wait_events(self, pred, timeout=5):
        """Events for which pred(ev) holds, waiting (bounded) for at least one."""
        deadline = time.time() + timeout
        while True:
            evs = [e for e in self.events() if pred(e)]
            if evs or time.time() > deadline:
                return evs
            time.sleep(0.1)

    # -- wsguardctl -----------------------------------------------------------------------------
    def ctl(self, *args, timeout=30):
        """(returncode, stdout, stderr) of build/wsguardctl -d STATEDIR ARGS."""
        p = subprocess.run([wsguardctl_path(), "-d", self.state_dir] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    # -- cleanup --------------------------------------------------------------------------------
    def cleanup(self):
        if os.environ.get("WSG_KEEP"):
            return
        shutil.rmtree(self.root, ignore_errors=True)


def src_addr(k, second=1, last=2):
    """A distinct loopback address in its own /24 for index k: 127.<second + k//250>.<k%250>.<last>."""
    return "127.%d.%d.%d" % (second + k // 250, k % 250, last)
