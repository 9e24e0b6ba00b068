"""Fixtures for the integration suite: real httpd instances with the built mod_wsguard.

    def test_x(httpd):                    # a factory; every server it makes is stopped afterwards
        h = httpd(mpm="event", wsguard="WSGuardAllow none")
        h.start()
        ...

After each test every server is stopped and its error log checked: a line at error level or above,
or a wsguard warning, that the test did not declare with h.expect_log(regex) fails the test.
Environment: WSG_BUILD (build dir, default <repo>/build), WSG_CORPUS, WSG_KEEP=1 (keep temp dirs),
WSG_TMP (where temp dirs go, default /tmp), WSG_SANITIZER_LOGS (make integration-asan: a report
there fails the test).
"""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import wsg_httpd  # noqa: E402
from wsg_httpd import MPMS, WSGHttpd  # noqa: E402,F401


def pytest_report_header(config):
    return "mod_wsguard: %s  wsguardctl: %s  corpus: %s" % (
        wsg_httpd.module_path(), wsg_httpd.wsguardctl_path(), wsg_httpd.corpus_dir())


@pytest.fixture(scope="session")
def module_so():
    so = wsg_httpd.module_path()
    if not os.path.exists(so):
        pytest.fail("%s is missing: run `make` (or set WSG_BUILD to your build dir)" % so)
    if os.geteuid() != 0:
        pytest.skip("the integration tests start httpd with User www-data: run them as root")
    return so


@pytest.fixture(scope="session")
def wsguardctl():
    p = wsg_httpd.wsguardctl_path()
    if not os.path.exists(p):
        pytest.fail("%s is missing: run `make`" % p)
    return p


@pytest.fixture(scope="session")
def corpus():
    d = wsg_httpd.corpus_dir()
    if not os.path.exists(os.path.join(d, "probes-dev.txt")):
        pytest.fail("corpus not found in %s (it is in the repository: tests/corpus)" % d)
    return d


@pytest.fixture(params=MPMS)
def mpm(request):
    return request.param


@pytest.fixture
def httpd(module_so, request):
    """Factory of WSGHttpd; all of them are stopped and their error logs checked at teardown."""
    made = []

    def make(**kw):
        kw.setdefault("name", re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name).replace("[", "-").strip("]")[:60])
        h = WSGHttpd(**kw)
        made.append(h)
        return h

    yield make

    problems = []
    for h in made:
        try:
            h.stop()
        except Exception as e:  # noqa: BLE001 - report, then keep cleaning up
            problems.append("stop %s: %s" % (h.root, e))
        bad = h.unexpected_log_lines()
        if bad:
            problems.append("unexpected error-log lines in %s:\n%s" % (h.error_log, "\n".join(bad[:30])))
    # Under `make integration-asan` the sanitizers write their reports into a directory: any
    # report after this test is a memory or UB error in the module (or wsguardctl).
    logs = os.environ.get("WSG_SANITIZER_LOGS")
    if logs and os.path.isdir(logs):
        for name in sorted(os.listdir(logs)):
            path = os.path.join(logs, name)
            with open(path, errors="replace") as f:
                problems.append("sanitizer report %s:\n%s" % (name, f.read()[:4000]))
            os.unlink(path)
    call = getattr(request.node, "rep_call", None)
    failed = bool(call and call.failed)
    if problems and failed:
        # The test already failed (its message usually shows why): show these, don't add an ERROR.
        sys.stderr.write("\n" + "\n".join(problems) + "\n")
        problems = []
        kept = True
    else:
        kept = bool(problems)
    if not kept and not failed:
        for h in made:
            h.cleanup()
    elif made:
        sys.stderr.write("\nkept for inspection: %s\n" % " ".join(h.root for h in made))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets fixtures see whether the test body failed (keep the server dir for inspection then).
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
