#!/usr/bin/python3
"""Checks a MISP feed directory the way a MISP instance subscribed to it by URL reads it (the layout
of MISP's feed generator and PyMISP's feed_meta_generator):

- manifest.json: an object, event uuid -> {Orgc, Tag, info, date, analysis, threat_level_id,
  timestamp}; MISP fetches the manifest, then each event whose timestamp is newer than its copy;
- <event-uuid>.json for every manifest entry: {"Event": {...}} with that uuid, a valid MISP event
  (stix_check.check_misp), whose fields the manifest entry repeats exactly;
- hashes.csv: "md5(attribute value),event uuid" per attribute (one per part of a composite "a|b"
  value), for every event of the manifest and nothing else (MISP's cache and correlation use it);
- no other event file that the manifest does not list.

    misp_feed_check.py DIR...       (exit 1 on any error)
    check_feed(dir) -> list of error strings (empty when valid)
"""
import hashlib
import json
import os
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stix_check  # noqa: E402

UUID_RE = re.compile(r"^" + stix_check.UUID_RE + r"$")
MANIFEST_KEYS = {"Orgc", "Tag", "info", "date", "analysis", "threat_level_id", "timestamp"}


def attribute_hashes(event):
    out = []
    for a in event.get("Attribute", []):
        parts = str(a["value"]).split("|") if "|" in a.get("type", "") else [str(a["value"])]
        out += [hashlib.md5(v.encode("utf-8")).hexdigest() for v in parts]
    return out


def check_feed(d):
    errs = []
    try:
        with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
            man = json.load(f)
    except (OSError, ValueError) as e:
        return [f"manifest.json: {e}"]
    if not isinstance(man, dict):
        return ["manifest.json: not an object"]
    expect = Counter()
    for uuid, entry in man.items():
        where = f"manifest[{uuid}]"
        if not UUID_RE.match(uuid):
            errs.append(f"{where}: key is not a lower-case UUID")
            continue
        if not isinstance(entry, dict) or set(entry) != MANIFEST_KEYS:
            errs.append(f"{where}: keys {sorted(entry) if isinstance(entry, dict) else entry} "
                        f"are not {sorted(MANIFEST_KEYS)}")
            continue
        path = os.path.join(d, uuid + ".json")
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            errs.append(f"{where}: its event file: {e}")
            continue
        errs += [f"{uuid}.json: {e}" for e in stix_check.check_misp(doc)]
        ev = doc.get("Event", {})
        if ev.get("uuid") != uuid:
            errs.append(f"{uuid}.json: holds event {ev.get('uuid')}")
        orgc = ev.get("Orgc") or {}
        if not orgc.get("name") or not UUID_RE.match(str(orgc.get("uuid", ""))):
            errs.append(f"{uuid}.json: Orgc needs a name and a uuid")
        if entry["Orgc"] != {k: orgc.get(k) for k in entry["Orgc"]} or \
                {"name", "uuid"} - set(entry["Orgc"]):
            errs.append(f"{where}: Orgc {entry['Orgc']} is not the event's {orgc}")
        if [t.get("name") for t in entry["Tag"]] != [t.get("name") for t in ev.get("Tag", [])]:
            errs.append(f"{where}: Tag differs from the event's")
        for k in ("info", "date", "analysis", "threat_level_id", "timestamp"):
            if str(entry[k]) != str(ev.get(k)):
                errs.append(f"{where}: {k} {entry[k]!r} is not the event's {ev.get(k)!r}")
        expect.update(f"{h},{uuid}" for h in attribute_hashes(ev))
    for name in os.listdir(d):
        if name.endswith(".json") and name != "manifest.json" and name[:-5] not in man:
            errs.append(f"{name}: an event file the manifest does not list")
    try:
        with open(os.path.join(d, "hashes.csv"), encoding="utf-8") as f:
            got = Counter(line.rstrip("\n") for line in f if line.strip())
    except OSError as e:
        return errs + [f"hashes.csv: {e}"]
    for line in got - expect:
        errs.append(f"hashes.csv: {line} is no attribute of the feed's events")
    for line in expect - got:
        errs.append(f"hashes.csv: {line} missing")
    return errs


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    bad = 0
    for d in argv[1:]:
        for e in check_feed(d):
            print(f"{d}: {e}", file=sys.stderr)
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
