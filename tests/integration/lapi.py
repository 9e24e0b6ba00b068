"""A real CrowdSec Local API (Debian's crowdsec 1.4.6) for the tests, offline, on 127.0.0.1.

    lapi = CrowdSecLAPI()          # private config, database and logs in a temp dir
    lapi.start()                   # crowdsec -c <its config> -no-cs -no-capi, on a free port
    pw = lapi.add_machine("web01") # cscli machines add ... --password ... --force -f FILE
    key = lapi.add_bouncer("web01-bouncer")   # cscli bouncers add NAME -o raw
    lapi.cscli("decisions", "add", "--ip", "192.0.2.1", "--duration", "1h")
    lapi.stop()                    # by pid

The instance never touches /etc/crowdsec's configuration nor the system database: it has a
config.yaml of its own (listen_uri on a free port, prometheus off, no online API section, its own
SQLite file), so tests and engineers can run several at once. ensure_installed() installs the
package through scripts/deps.sh when it is missing (which writes the comment-only
online_api_credentials.yaml first, so the install works offline).
"""
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from wsg_httpd import REPO, build_dir, free_port

DRIVER = os.path.join(build_dir(), "tests", "lapi_driver")
CROWDSEC = "/usr/bin/crowdsec"
CSCLI = "/usr/bin/cscli"

CONFIG = """\
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: {root}/log/
  working_dir: .
config_paths:
  config_dir: {root}/etc/
  data_dir: {root}/data/
  simulation_path: /etc/crowdsec/simulation.yaml
  hub_dir: /var/lib/crowdsec/hub/
  index_path: /var/lib/crowdsec/hub/.index.json
  notification_dir: {root}/etc/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: {root}/etc/acquis.yaml
  parser_routines: 1
cscli:
  output: human
db_config:
  log_level: info
  type: sqlite
  db_path: {root}/data/crowdsec.db
  use_wal: true
  flush:
    # 1.4.6 deletes the oldest alerts with their active decisions past max_items (README)
    max_items: 100000
    max_age: 7d
plugin_config:
  user: nobody
  group: nogroup
api:
  client:
    insecure_skip_verify: false
    credentials_path: {root}/etc/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:{port}
    profiles_path: /etc/crowdsec/profiles.yaml
    console_path: {root}/etc/console.yaml
    trusted_ips:
      - 127.0.0.1
{tls}prometheus:
  enabled: false
"""


def ensure_installed():
    """Installs crowdsec with the project's dependency step if it is missing; returns a reason
    string when it cannot be had (the caller skips), else None."""
    if os.path.exists(CROWDSEC) and os.path.exists(CSCLI):
        return None
    if os.geteuid() != 0:
        return "crowdsec is not installed and installing it needs root (sh scripts/deps.sh)"
    r = subprocess.run(["sh", os.path.join(REPO, "scripts", "deps.sh")], capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0 or not os.path.exists(CROWDSEC):
        return "scripts/deps.sh could not install crowdsec:\n" + r.stdout[-2000:] + r.stderr[-2000:]
    return None


TLS = """\
    tls:
      cert_file: {cert}
      key_file: {key}
      ca_cert_path: {ca}
      client_verification: VerifyClientCertIfGiven
      bouncers_allowed_ou:
        - bouncer-ou
      agents_allowed_ou:
        - agent-ou
"""


def make_pki(d):
    """A throwaway CA, a server certificate for 127.0.0.1 and client certificates with the
    bouncer OU and with another OU (EC keys: quick). Returns a dict of paths."""
    def run(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    k = {}
    for name in ("ca", "server", "bouncer", "other"):
        k[name + "_key"] = os.path.join(d, name + ".key")
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", k[name + "_key"])
        os.chmod(k[name + "_key"], 0o600)
    k["ca"] = os.path.join(d, "ca.pem")
    run("req", "-x509", "-new", "-key", k["ca_key"], "-days", "2", "-subj", "/CN=wsg-test-ca",
        "-out", k["ca"])
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name, subj, extra in (("server", "/CN=127.0.0.1", ["-extfile", ext]),
                              ("bouncer", "/OU=bouncer-ou/CN=wsg-web01", []),
                              ("other", "/OU=other-ou/CN=wsg-web02", [])):
        csr = os.path.join(d, name + ".csr")
        k[name] = os.path.join(d, name + ".pem")
        run("req", "-new", "-key", k[name + "_key"], "-subj", subj, "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", k["ca"], "-CAkey", k["ca_key"], "-CAcreateserial",
            "-days", "2", "-out", k[name], *extra)
    return k


class CrowdSecLAPI:
    def __init__(self, base=None, tls=False):
        base = base or os.environ.get("WSG_TMP", "/tmp")
        self.root = tempfile.mkdtemp(prefix="wsg-lapi-", dir=base)
        for d in ("etc", "data", "log", "pki"):
            os.makedirs(os.path.join(self.root, d))
        self.port = free_port()
        self.pki = make_pki(os.path.join(self.root, "pki")) if tls else None
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.config = os.path.join(self.root, "etc", "config.yaml")
        tls_conf = TLS.format(cert=self.pki["server"], key=self.pki["server_key"],
                              ca=self.pki["ca"]) if tls else ""
        with open(self.config, "w") as f:
            f.write(CONFIG.format(root=self.root, port=self.port, tls=tls_conf))
        self.proc = None
        self._admin = False

    # -- cscli ------------------------------------------------------------------------------
    def cscli(self, *args, json_out=False, check=True, timeout=60):
        cmd = [CSCLI, "-c", self.config] + list(args)
        if json_out:
            cmd += ["-o", "json"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                           r.stdout, r.stderr))
        if json_out:
            out = r.stdout.strip()
            return json.loads(out) if out and out != "null" else []
        return r

    def add_machine(self, name, password=None):
        """A validated machine; returns its password."""
        password = password or secrets.token_hex(16)
        creds = os.path.join(self.root, "etc", "machine-%s.yaml" % name)
        self.cscli("machines", "add", name, "--password", password, "--force", "-f", creds)
        return password

    def add_bouncer(self, name):
        """A bouncer; returns its API key."""
        key = self.cscli("bouncers", "add", name, "-o", "raw").stdout.strip()
        assert key, "cscli bouncers add %s printed no key" % name
        return key

    def _ensure_admin(self):
        # cscli decisions talks to the LAPI as a machine: the one in credentials_path
        if not self._admin:
            creds = os.path.join(self.root, "etc", "local_api_credentials.yaml")
            self.cscli("machines", "add", "wsg-test-admin", "--password", secrets.token_hex(16),
                       "--force", "-f", creds)
            if self.pki:
                # cscli writes http://; over TLS it needs the https URL and our CA
                with open(creds) as f:
                    text = "".join(ln for ln in f if not ln.startswith("url:"))
                with open(creds, "w") as f:
                    f.write("url: %s\nca_cert_path: %s\n%s" % (self.url, self.pki["ca"], text))
            self._admin = True

    def decisions(self):
        """Every active decision (-a: 1.4.6 hides other origins than crowdsec/cscli without it),
        as a list of (alert, decision) dicts."""
        self._ensure_admin()
        alerts = self.cscli("decisions", "list", "-a", json_out=True)
        return [(a, d) for a in alerts or [] for d in a.get("decisions") or []]

    def add_decision(self, ip, duration="1h"):
        self._ensure_admin()
        self.cscli("decisions", "add", "--ip", ip, "--duration", duration)

    def delete_decision(self, ip):
        self._ensure_admin()
        self.cscli("decisions", "delete", "--ip", ip)

    def add_range_decision(self, cidr, duration="1h"):
        self._ensure_admin()
        self.cscli("decisions", "add", "--range", cidr, "--duration", duration)

    def delete_range_decision(self, cidr):
        self._ensure_admin()
        self.cscli("decisions", "delete", "--range", cidr)

    # -- process ------------------------------------------------------------------------------
    def _health(self):
        ctx = ssl.create_default_context(cafile=self.pki["ca"]) if self.pki else None
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1, context=ctx) as r:
                return r.status == 200
        except OSError:
            return False

    def start(self, timeout=30):
        assert self.proc is None, "already running"
        log = open(os.path.join(self.root, "log", "stdout.log"), "ab")
        self.proc = subprocess.Popen([CROWDSEC, "-c", self.config, "-no-cs", "-no-capi"],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("crowdsec exited with %s:\n%s" % (self.proc.returncode,
                                                                      self.log_tail()))
            if self._health():
                return
            time.sleep(0.1)
        raise AssertionError("the LAPI did not answer on %s within %ss:\n%s"
                             % (self.url, timeout, self.log_tail()))

    def stop(self, timeout=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        # the port is free again once nothing answers
        deadline = time.time() + 5
        while self._health() and time.time() < deadline:
            time.sleep(0.05)

    def log_tail(self, n=40):
        out = []
        for name in ("stdout.log", "crowdsec.log", "crowdsec_api.log"):
            p = os.path.join(self.root, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append("== %s\n%s" % (name, "".join(f.readlines()[-n:])))
        return "\n".join(out)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def lapi():
    """One LAPI per test file (import this fixture into it), stopped by pid at the end."""
    if not os.path.exists(DRIVER):
        pytest.fail("%s is missing: run `make`" % DRIVER)
    why = ensure_installed()
    if why:
        pytest.skip(why)
    server = CrowdSecLAPI()
    server.start()
    yield server
    server.stop()
    if os.environ.get("WSG_KEEP"):
        sys.stderr.write("\nkept LAPI dir: %s\n" % server.root)
    else:
        server.cleanup()


def wait_for(pred, timeout, step=0.05):
    """Seconds until pred() held, or None after timeout."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        time.sleep(step)
    return None
