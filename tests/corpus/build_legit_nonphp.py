#!/usr/bin/python3
"""Turns the unpacked Debian packages of Java, CGI and admin/monitoring web applications into the
URL paths their stock Apache or Tomcat configuration serves: tests/corpus/legit-nonphp-files.txt.

    mkdir -p /tmp/debs && cd /tmp/debs && apt-get download PACKAGES...   (see README-nonphp.md)
    for d in *.deb; do dpkg-deb -x "$d" root; done                      (nothing is installed)
    python3 tests/corpus/build_legit_nonphp.py /tmp/debs/root > tests/corpus/legit-nonphp-files.txt

Walk rules: every regular file under a served directory, GET; symlinks are followed inside the
unpacked tree, a link leading outside it is kept when its name has an extension (the target is
another package's file, served under this name); Tomcat's WEB-INF/ and META-INF/ (never served),
directories whose .htaccess denies all, directories the package's Apache configuration denies and
.ht* files are left out. Tomcat servlet url-patterns (web.xml) are added as paths of their
context ("/text/*" as "/text/"), a few documented commands of the Tomcat manager, and
phpLDAPadmin's pages as cmd.php?cmd=NAME for each command its code links to. Output:
`METHOD PATH` lines, LC_ALL=C sorted, unique, ASCII with percent-encoding (same format as
tests/corpus/probes-dev.txt).
"""
import os
import re
import sys
import urllib.parse

# (URL prefix, directory in the unpacked tree, kind). Sources: each package's own Apache
# configuration or Tomcat context file (etc/apache2/conf-available/*.conf, etc/*/apache.conf,
# etc/tomcat10/Catalina/localhost/*.xml).
MOUNTS = [
    ("/", "usr/share/tomcat10-root/default_root", "tomcat"),            # tomcat10: ROOT webapp
    ("/manager", "usr/share/tomcat10-admin/manager", "tomcat"),         # tomcat10-admin
    ("/host-manager", "usr/share/tomcat10-admin/host-manager", "tomcat"),
    ("/examples", "usr/share/tomcat10-examples/examples", "tomcat"),    # tomcat10-examples
    ("/docs", "usr/share/tomcat10-docs/docs", "tomcat"),                # tomcat10-docs
    ("/phpldapadmin", "usr/share/phpldapadmin/htdocs", "apache"),       # phpldapadmin
    ("/cacti", "usr/share/cacti/site", "apache"),                       # cacti
    ("/phpsysinfo", "usr/share/phpsysinfo", "apache"),                  # phpsysinfo
    ("/adminer", "etc/adminer", "apache"),                              # adminer
    ("/nagios4", "usr/share/nagios4/htdocs", "apache"),                 # nagios4-cgi
    ("/nagios4/stylesheets", "etc/nagios4/stylesheets", "apache"),
    ("/cgi-bin/nagios4", "usr/lib/cgi-bin/nagios4", "apache"),
    ("/nagios4/cgi-bin", "usr/lib/cgi-bin/nagios4", "apache"),
    ("/cgit-css", "usr/share/cgit", "apache"),                          # cgit
    ("/munin-cgi", "usr/lib/munin/cgi", "apache"),                      # munin (CGI part)
]
# Directories the packages' Apache configurations deny (phpsysinfo's apache.conf).
DENIED = {"usr/share/phpsysinfo/data", "usr/share/phpsysinfo/includes"}
# Entry points that are not files: cgit's ScriptAlias /cgit/ -> cgit.cgi with path-info.
EXTRA = ["GET /cgit/", "GET /cgit/?p=about", "GET /munin/", "GET /phpldapadmin/",
         "GET /cacti/", "GET /adminer/", "GET /nagios4/", "GET /manager/html", "GET /host-manager/html",
         "GET /manager/text/list", "GET /manager/status/all", "GET /manager/html/list"]

SAFE = "/-._~!$&'()*+,;=:@?"


def enc(path):
    return urllib.parse.quote(path, safe=SAFE)


def denied_by_htaccess(d):
    f = os.path.join(d, ".htaccess")
    if not os.path.isfile(f):
        return False
    text = open(f, errors="replace").read()
    return bool(re.search(r"^\s*(Require all denied|Deny from all)", text, re.M | re.I))


def walk(root, rel, prefix, kind, out, seen_real):
    top = os.path.join(root, rel)
    if not os.path.isdir(top):
        sys.exit("missing %s (download and unpack the packages first)" % top)
    stack = [(top, prefix.rstrip("/"))]
    while stack:
        d, url = stack.pop()
        real = os.path.realpath(d)
        if real in seen_real:
            continue
        seen_real.add(real)
        if os.path.relpath(d, root) in DENIED or denied_by_htaccess(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            u = url + "/" + name
            if name.startswith(".ht"):
                continue
            if kind == "tomcat" and name in ("WEB-INF", "META-INF") and d == top:
                continue
            if os.path.islink(p):
                target = os.path.realpath(p)
                if not target.startswith(os.path.realpath(root) + os.sep) or not os.path.exists(target):
                    if "." in name:
                        out.add("GET " + enc(u))
                    continue
                p = target
            if os.path.isdir(p):
                stack.append((p, u))
            elif os.path.isfile(p):
                out.add("GET " + enc(u))


def servlet_patterns(root, rel, prefix, out):
    webxml = os.path.join(root, rel, "WEB-INF", "web.xml")
    if not os.path.isfile(webxml):
        return
    for pat in re.findall(r"<url-pattern>\s*([^<]+?)\s*</url-pattern>", open(webxml).read()):
        if pat.endswith("/*") and len(pat) > 2:
            pat = pat[:-1]                  # "/text/*": the directory itself
        if "*" in pat or not pat.startswith("/"):
            continue
        out.add("GET " + enc(prefix.rstrip("/") + pat))


def phpldapadmin_commands(root, out):
    """phpLDAPadmin serves every page through cmd.php?cmd=NAME: the bookmarkable URLs of the
    application are those, one per command its own code links to."""
    names = set()
    for d in ("usr/share/phpldapadmin/htdocs", "usr/share/phpldapadmin/lib"):
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in files:
                if f.endswith(".php"):
                    text = open(os.path.join(dirpath, f), errors="replace").read()
                    names.update(re.findall(r"cmd=([a-z_]+)", text))
    for n in names:
        out.add("GET /phpldapadmin/cmd.php?cmd=" + n)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: build_legit_nonphp.py UNPACKED_ROOT")
    root = sys.argv[1]
    out = set(EXTRA)
    for prefix, rel, kind in MOUNTS:
        walk(root, rel, prefix, kind, out, set())
        if kind == "tomcat":
            servlet_patterns(root, rel, prefix, out)
    phpldapadmin_commands(root, out)
    data = "".join(line + "\n" for line in sorted(out, key=lambda s: s.encode()))
    sys.stdout.write(data)


if __name__ == "__main__":
    main()
