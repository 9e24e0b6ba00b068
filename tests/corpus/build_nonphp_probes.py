#!/usr/bin/python3
"""Builds tests/corpus/nonphp-probes.txt from the extracted lists in tests/corpus/nonphp-sources/
(see README-nonphp.md for where each comes from).

    python3 tests/corpus/build_nonphp_probes.py > tests/corpus/nonphp-probes.txt

Each source line is `METHOD PATH`, a `PATH` (GET), or a bare file name: a bare name is requested at
the site root, and a CGI-type name (.pl .cgi .sh) also under /cgi-bin/ (where CGI shells live).
`#` lines are comments. Output: `METHOD PATH`, LC_ALL=C sorted, unique, ASCII: space, quotes, `<>`
and non-ASCII (as UTF-8) are percent-encoded, `%XX` escapes already present are kept.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CGI_EXT = (".pl", ".cgi", ".sh")


def enc(path):
    out = []
    data = path.encode("utf-8")
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x25 and re.match(rb"%[0-9A-Fa-f]{2}", data[i:i + 3]):
            out.append("%")
        elif b <= 0x20 or b >= 0x7f or chr(b) in "\"'<>%`{}|\\^":
            out.append("%%%02X" % b)
        else:
            out.append(chr(b))
        i += 1
    return "".join(out)


def main():
    src = os.path.join(HERE, "nonphp-sources")
    lines = set()
    for name in sorted(os.listdir(src)):
        if not name.endswith(".txt"):
            continue
        for raw in open(os.path.join(src, name), encoding="utf-8"):
            raw = raw.rstrip("\n")
            if not raw.strip() or raw.startswith("#"):
                continue
            m = re.match(r"^(GET|POST) (/.*)$", raw)
            if m:
                lines.add("%s %s" % (m.group(1), enc(m.group(2))))
            elif raw.startswith("/"):
                lines.add("GET " + enc(raw))
            else:
                lines.add("GET " + enc("/" + raw))
                if raw.lower().endswith(CGI_EXT):
                    lines.add("GET " + enc("/cgi-bin/" + raw))
    sys.stdout.write("".join(l + "\n" for l in sorted(lines, key=lambda s: s.encode())))


if __name__ == "__main__":
    main()
