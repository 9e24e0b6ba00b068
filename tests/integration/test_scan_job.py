"""Issue 4, the product's real job: scripts/scan-job.py against a real httpd with the shipped rules
and default thresholds (corpus probes-dev.txt in sessions of 40, one /24 each; legit-dev.txt visitors
in sessions of 200). At least 99 % of scanner sessions refused, a median of at most 2 probes before
refusal, no visitor session ever refused, every refused scanner banned (403, not only rate-limited)
by its 12th probe (issue 13), and the site never fails."""
import json
import os
import subprocess
import sys

import pytest

import wsg_httpd

SCRIPT = os.path.join(wsg_httpd.REPO, "scripts", "scan-job.py")


@pytest.mark.parametrize("mpm_", ["prefork", "event"])
def test_scan_job(module_so, corpus, mpm_):
    p = subprocess.run([sys.executable, SCRIPT, "--mpm", mpm_, "--json", "--time-limit", "150"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
    if p.returncode == 2:
        pytest.fail("scan-job could not run:\n%s%s" % (p.stdout, p.stderr))
    summary = "\n".join(ln for ln in p.stdout.splitlines() if not ln.startswith("{"))
    print(summary)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["no_answer"] == 0 and r["status_5xx"] == 0, summary
    assert not r["unexpected_error_log_lines"], summary
    assert r["scanner_refused_pct"] >= 99.0, summary
    assert r["median_probes_before_refusal"] is not None and r["median_probes_before_refusal"] <= 2, summary
    assert r["visitor_sessions_refused"] == 0, summary
    # Every refused scanner ends banned (and so exported), by its 12th probe.
    assert r["refused_banned_by_12_pct"] == 100.0, summary
    # Once banned, a scanner stays refused within its session.
    assert r["leaky_scanner_sessions"] == 0, summary
    # A few probe lines are real WordPress files with an exploit query (they answer 200): an alert
    # can only come from such a 2xx probe.
    assert r["alerts"] <= r["probe_2xx"], summary
