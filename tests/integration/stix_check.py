#!/usr/bin/python3
"""Checker for the sharing formats wsguardctl report writes: STIX 2.1 bundles and MISP event JSON.

STIX bundles are validated against the OASIS STIX 2.1 JSON schemas vendored in tests/stix-schemas
(the bundle, and every object against the schema of its type), with Debian's python3-jsonschema
and a registry that maps the schemas' $id URLs to the local files, so nothing goes to the network.
The structural checks below add what the schemas cannot say.

It checks what a consumer relies on, from the STIX 2.1 specification (OASIS, 2021): identifier
form, the common properties required per object type, timestamp form, the required properties of
indicators, sightings and relationships, and that every reference resolves inside the bundle (or
is one of the published TLP marking definitions). For MISP: the event and attribute structure a
MISP instance accepts on import.

    stix_check.py FILE...           (format detected per file; exit 1 on any error)
    check_stix(obj) / check_misp(obj) -> list of error strings (empty when valid)
"""
import datetime
import ipaddress
import json
import os
import re
import sys
import urllib.parse

try:
    import jsonschema
except ImportError:  # reported as a check error, so a missing dependency fails the tests
    jsonschema = None

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ID_RE = re.compile(r"^([a-z0-9][a-z0-9-]*[a-z0-9])--(" + UUID_RE + r")$")
TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.(\d+))?Z$")

# TLP 1.0 marking definitions, as published in STIX 2.1 section 7.2.1.4.
TLP_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "white",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}

# The ATT&CK techniques the reports refer to, as MITRE names them in its own STIX data (the
# sub-technique's name, without its parent's): OpenCTI links an attack pattern to its ATT&CK
# object through the mitre-attack external_id.
ATTACK = {
    "T1595.003": "Wordlist Scanning",
    "T1505.003": "Web Shell",
}
PROP_RE = re.compile(r"^[a-z0-9_]{3,250}$")

SDO_TYPES = {
    "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
    "indicator", "infrastructure", "intrusion-set", "location", "malware", "malware-analysis",
    "note", "observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability",
}
SRO_TYPES = {"relationship", "sighting"}
SCO_TYPES = {
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
    "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process",
    "software", "url", "user-account", "windows-registry-key", "x509-certificate",
}
META_TYPES = {"marking-definition", "language-content", "extension-definition"}

# Required properties beyond the common ones (type, spec_version, id, created, modified: checked
# for every SDO/SRO above), per type (STIX 2.1 section 4-5).
REQUIRED = {
    "attack-pattern": ["name"],
    "campaign": ["name"],
    "identity": ["name"],
    "indicator": ["pattern", "pattern_type", "valid_from"],
    "infrastructure": ["name"],
    "intrusion-set": ["name"],
    "malware": ["is_family"],
    "threat-actor": ["name"],
    "tool": ["name"],
    "vulnerability": ["name"],
    "report": ["name", "published", "object_refs"],
    "grouping": ["context", "object_refs"],
    "note": ["content", "object_refs"],
    "relationship": ["relationship_type", "source_ref", "target_ref"],
    "sighting": ["sighting_of_ref"],
}

# Relationships the STIX 2.1 summary tables define, for those we write: relationship_type ->
# (source types, target types). Others (and custom ones) are not checked.
RELATIONSHIPS = {
    "indicates": ({"indicator"}, {"attack-pattern", "campaign", "infrastructure", "intrusion-set",
                                  "malware", "threat-actor", "tool"}),
    "uses": ({"campaign", "intrusion-set", "threat-actor", "malware", "attack-pattern",
              "infrastructure"},
             {"attack-pattern", "infrastructure", "malware", "tool"}),
    "attributed-to": ({"campaign", "intrusion-set"}, {"intrusion-set", "threat-actor"}),
}

TIMESTAMP_KEYS = {
    "created", "modified", "valid_from", "valid_until", "first_seen", "last_seen", "published",
    "first_observed", "last_observed", "start_time", "stop_time",
}


def parse_ts(value):
    """A STIX timestamp (RFC 3339, UTC, 'Z') as a datetime, or None when malformed."""
    if not isinstance(value, str):
        return None
    m = TS_RE.match(value)
    if not m:
        return None
    try:
        frac = (m.group(8) or "0")[:6].ljust(6, "0")
        return datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                 int(m.group(4)), int(m.group(5)), min(int(m.group(6)), 59),
                                 int(frac), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _refs(value, path=""):
    """Yields (property path, referenced id) for every *_ref / *_refs anywhere in value."""
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}" if path else k
            if k.endswith("_ref"):
                yield p, v
            elif k.endswith("_refs"):
                if not isinstance(v, list):
                    yield p, v
                else:
                    for i, x in enumerate(v):
                        yield f"{p}[{i}]", x
            else:
                yield from _refs(v, p)
    elif isinstance(value, list):
        for i, x in enumerate(value):
            yield from _refs(x, f"{path}[{i}]")


# --- OASIS STIX 2.1 JSON schemas -----------------------------------------------------------------

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "stix-schemas")
# The base every schema's $id (and so every relative $ref) is under.
SCHEMA_BASE = ("http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/"
               "schemas/")
_schemas = {}      # $id URL -> schema
_validators = {}   # STIX type (or "bundle") -> validator


class _NoNetwork(Exception):
    pass


def _load_schemas():
    if _schemas:
        return
    for sub in ("common", "sdos", "sros", "observables"):
        d = os.path.join(SCHEMA_DIR, sub)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                sch = json.load(f)
            want = SCHEMA_BASE + sub + "/" + name
            if sch.get("$id") != want:
                raise RuntimeError(f"{sub}/{name}: $id {sch.get('$id')!r} is not {want}")
            _schemas[want] = sch


def _validator(schema_id):
    """A draft 2020-12 validator for the schema at schema_id whose $refs resolve only to the
    vendored files: referencing's Registry where jsonschema has it (4.18+), else RefResolver
    (Debian 12 ships 4.10) with a store and a remote handler that refuses."""
    sch = _schemas[schema_id]
    cls = jsonschema.Draft202012Validator
    try:
        import referencing
        import referencing.jsonschema

        def retrieve(uri):
            raise _NoNetwork(f"schema {uri} is not vendored in tests/stix-schemas")
        reg = referencing.Registry(retrieve=retrieve).with_resources(
            (u, referencing.Resource.from_contents(s, default_specification=referencing.jsonschema.DRAFT202012))
            for u, s in _schemas.items())
        return cls(sch, registry=reg, format_checker=cls.FORMAT_CHECKER)
    except ImportError:
        class LocalResolver(jsonschema.RefResolver):
            def resolve_remote(self, uri):
                raise _NoNetwork(f"schema {uri} is not vendored in tests/stix-schemas")
        res = LocalResolver(base_uri=schema_id, referrer=sch, store=dict(_schemas))
        return cls(sch, resolver=res, format_checker=jsonschema.FormatChecker())


def schema_for(stix_type):
    """The $id of the OASIS schema for a STIX type, or None when there is none (custom types)."""
    _load_schemas()
    if stix_type == "bundle":
        return SCHEMA_BASE + "common/bundle.json"
    for sub in ("sdos", "sros", "observables", "common"):
        u = SCHEMA_BASE + sub + "/" + stix_type + ".json"
        if u in _schemas and (sub != "common" or stix_type in META_TYPES):
            return u
    return None


def _fmt(e):
    """One schema error as a line: where in the instance, what, and which schema said so."""
    at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path) or "."
    sch = urllib.parse.urlsplit(e.schema.get("$id", "") if isinstance(e.schema, dict) else "")
    rule = "/".join(str(p) for p in e.absolute_schema_path)
    msg = e.message if len(e.message) <= 160 else e.message[:120] + " ... " + e.message[-35:]
    return f"{at}: {msg} (schema {rule}{' ' + sch.path if sch.path else ''})"


def _validate(stix_type, doc):
    sid = schema_for(stix_type)
    if sid is None:
        return None
    if stix_type not in _validators:
        _validators[stix_type] = _validator(sid)
    v = _validators[stix_type]
    errs = sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    out = []
    for e in errs:
        # oneOf/anyOf failures say little by themselves: name the branch that came closest
        best = jsonschema.exceptions.best_match(e.context) if e.context else None
        out.append(_fmt(e) + (f"; closest: {_fmt(best)}" if best is not None else ""))
    return out


def check_stix_schema(bundle):
    """Validates the bundle against bundle.json and each object against the schema for its type
    (the per-object errors are the precise ones; the bundle's oneOf only says which object).
    Returns a list of error strings."""
    if jsonschema is None:
        return ["schema: python3-jsonschema is not installed (scripts/deps.sh)"]
    try:
        _load_schemas()
        # bundle.json tries each object against a oneOf of 36 schemas (150 s for the 12k objects
        # of a 3000-client report). Every one of those schemas pins "type" with an enum, so for a
        # known type the oneOf holds exactly when the object's own schema does, which is checked
        # for every object below: the envelope goes through bundle.json with the first object of
        # each type (custom types included, they take bundle.json's other branch).
        objs, seen = bundle.get("objects"), set()
        if isinstance(objs, list) and len(objs) > 50:
            sample = []
            for o in objs:
                t = o.get("type") if isinstance(o, dict) else None
                if not isinstance(t, str) or schema_for(t) is None or t not in seen:
                    sample.append(o)
                    seen.add(t)
            envelope = dict(bundle, objects=sample)
            index = [i for i, o in enumerate(objs) if any(o is x for x in sample)]
        else:
            envelope, index = bundle, None
        errs = []
        for e in _validate("bundle", envelope):
            if index is not None:
                e = re.sub(r"^\.objects\[(\d+)\]", lambda m: f".objects[{index[int(m.group(1))]}]", e)
            m = re.match(r"^\.objects\[(\d+)\]: ", e)
            # an object bundle.json's anyOf rejects is detailed by its own schema below
            errs.append(f"bundle schema: objects[{m.group(1)}] is none of the objects "
                        "bundle.json allows" if m else f"bundle schema: {e}")
        for i, o in enumerate(bundle.get("objects") or []):
            if not isinstance(o, dict) or not isinstance(o.get("type"), str):
                continue
            r = _validate(o["type"], o)
            if r is None:
                if not o["type"].startswith("x-"):
                    errs.append(f"objects[{i}] ({o['type']}): no OASIS schema for this type")
                continue
            errs += [f"objects[{i}] ({o['type']} {o.get('id')}) schema: {e}" for e in r]
        return errs
    except (OSError, ValueError, RuntimeError, _NoNetwork, jsonschema.RefResolutionError) as e:
        return [f"schema: {e}"]


def check_stix(bundle):
    """The OASIS schemas, then the structural checks (references resolve, ATT&CK ids, ...)."""
    errs = []
    if not isinstance(bundle, dict):
        return ["bundle: not a JSON object"]
    errs += check_stix_schema(bundle)
    if bundle.get("type") != "bundle":
        errs.append("bundle: type is not 'bundle'")
    m = ID_RE.match(str(bundle.get("id", "")))
    if not m or m.group(1) != "bundle":
        errs.append(f"bundle: bad id {bundle.get('id')!r}")
    if "spec_version" in bundle:
        errs.append("bundle: a STIX 2.1 bundle has no spec_version (that was 2.0)")
    objs = bundle.get("objects")
    if not isinstance(objs, list):
        return errs + ["bundle: objects is not a list"]

    by_id = {}
    for i, o in enumerate(objs):
        where = f"objects[{i}]"
        if not isinstance(o, dict):
            errs.append(f"{where}: not an object")
            continue
        t = o.get("type")
        oid = o.get("id")
        where = f"objects[{i}] ({t} {oid})"
        if not isinstance(t, str) or not re.match(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$", t):
            errs.append(f"{where}: bad type")
            continue
        m = ID_RE.match(oid) if isinstance(oid, str) else None
        if not m:
            errs.append(f"{where}: id is not '<type>--<RFC 4122 UUID>'")
        elif m.group(1) != t:
            errs.append(f"{where}: id prefix {m.group(1)!r} is not the type")
        elif (t in SDO_TYPES or t in SRO_TYPES) and m.group(2)[14] not in "45":
            # 2.9: SDO/SRO ids SHOULD be UUIDv4; a name-based v5 (a stable identity) is allowed
            errs.append(f"{where}: SDO/SRO ids should be UUIDv4 (or a deterministic v5)")
        if oid in by_id:
            errs.append(f"{where}: duplicate id")
        by_id[oid] = o
        if o.get("spec_version") != "2.1":
            errs.append(f"{where}: spec_version is not '2.1'")

        for k in TIMESTAMP_KEYS & o.keys():
            if parse_ts(o[k]) is None:
                errs.append(f"{where}: {k} {o[k]!r} is not an RFC 3339 UTC timestamp ending in Z")
        if t in SDO_TYPES or t in SRO_TYPES:
            for k in ("created", "modified"):
                if k not in o:
                    errs.append(f"{where}: missing {k}")
                elif not re.search(r"\.\d{3,}Z$", str(o[k])):
                    errs.append(f"{where}: {k} must be precise to the millisecond")
            c, mo = parse_ts(o.get("created")), parse_ts(o.get("modified"))
            if c and mo and mo < c:
                errs.append(f"{where}: modified before created")
        elif t == "marking-definition":
            if "created" not in o:
                errs.append(f"{where}: missing created")
            if o.get("definition_type") == "tlp":
                level = (o.get("definition") or {}).get("tlp")
                if level not in ("white", "green", "amber", "red"):
                    errs.append(f"{where}: bad TLP level {level!r}")
                if oid in TLP_IDS and TLP_IDS[oid] != level:
                    errs.append(f"{where}: id is the TLP:{TLP_IDS[oid].upper()} marking")
        elif t not in SCO_TYPES and t not in META_TYPES and not t.startswith("x-"):
            errs.append(f"{where}: unknown object type")

        for k in REQUIRED.get(t, []):
            if k not in o or o[k] in (None, "", []):
                errs.append(f"{where}: missing required {k}")
        for k in ("labels", "indicator_types"):
            if k in o and (not isinstance(o[k], list) or
                           not all(isinstance(x, str) and x for x in o[k])):
                errs.append(f"{where}: {k} must be a list of non-empty strings")
        # 3.1: property names are lower-case ASCII letters, digits and '_', 3 to 250 of them
        for k in o:
            if not PROP_RE.match(k) and k != "id":
                errs.append(f"{where}: property name {k!r} is not [a-z0-9_]{{3,250}}")
        for j, ext in enumerate(o.get("external_references", []) or []):
            if not isinstance(ext, dict) or not ext.get("source_name"):
                errs.append(f"{where}: external_references[{j}] needs source_name")
                continue
            if not any(ext.get(k) for k in ("description", "url", "external_id")):
                errs.append(f"{where}: external_references[{j}] needs a description, url or "
                            "external_id (2.5)")
            if ext.get("source_name") == "mitre-attack":
                xid = str(ext.get("external_id", ""))
                if not re.match(r"^T\d{4}(\.\d{3})?$", xid):
                    errs.append(f"{where}: external_references[{j}] bad ATT&CK id {xid!r}")
                    continue
                url = "https://attack.mitre.org/techniques/" + xid.replace(".", "/") + "/"
                if ext.get("url") != url:
                    errs.append(f"{where}: {xid} url {ext.get('url')!r} is not MITRE's {url}")
                if t == "attack-pattern" and xid in ATTACK and o.get("name") != ATTACK[xid]:
                    errs.append(f"{where}: {xid} is named {ATTACK[xid]!r} by MITRE, not "
                                f"{o.get('name')!r}")
        for j, kc in enumerate(o.get("kill_chain_phases", []) or []):
            if not isinstance(kc, dict) or not all(
                    isinstance(kc.get(k), str) and re.match(r"^[a-z0-9-]+$", kc[k])
                    for k in ("kill_chain_name", "phase_name")):
                errs.append(f"{where}: kill_chain_phases[{j}] needs lower-case hyphenated "
                            "kill_chain_name and phase_name")
        if t == "attack-pattern" and not any(
                isinstance(e, dict) and e.get("source_name") == "mitre-attack"
                for e in o.get("external_references", []) or []):
            errs.append(f"{where}: attack pattern without its mitre-attack external reference")
        if t in SDO_TYPES and t != "identity" and "created_by_ref" not in o:
            errs.append(f"{where}: no created_by_ref (the reporter)")
        if t == "identity" and o.get("identity_class") not in (
                None, "individual", "group", "system", "organization", "class", "unknown"):
            errs.append(f"{where}: identity_class {o.get('identity_class')!r} is not in the "
                        "identity-class-ov vocabulary")

        if t == "indicator":
            pat = o.get("pattern", "")
            if o.get("pattern_type") == "stix" and not (
                    isinstance(pat, str) and pat.startswith("[") and pat.endswith("]")
                    and re.search(r"[a-z0-9-]+:[a-z0-9_.\[\]*-]+\s*(=|!=|IN|LIKE|MATCHES|<|>)",
                                  pat)):
                errs.append(f"{where}: pattern {pat!r} is not a STIX comparison expression")
            vf, vu = parse_ts(o.get("valid_from")), parse_ts(o.get("valid_until"))
            if vf and vu and vu <= vf:
                errs.append(f"{where}: valid_until is not after valid_from")
        if t == "sighting":
            cnt = o.get("count")
            if cnt is not None and (not isinstance(cnt, int) or isinstance(cnt, bool)
                                    or not 0 <= cnt <= 999999999):
                errs.append(f"{where}: count must be an integer 0..999999999")
            fs, ls = parse_ts(o.get("first_seen")), parse_ts(o.get("last_seen"))
            if fs and ls and ls < fs:
                errs.append(f"{where}: last_seen before first_seen")
        if t == "relationship" and not re.match(r"^[a-z0-9-]+$",
                                                str(o.get("relationship_type", ""))):
            errs.append(f"{where}: bad relationship_type")
        if t == "campaign":
            fs, ls = parse_ts(o.get("first_seen")), parse_ts(o.get("last_seen"))
            if fs and ls and ls < fs:
                errs.append(f"{where}: last_seen before first_seen")

    # References: well formed, resolvable, and of the right kind where the spec says which.
    for i, o in enumerate(objs):
        if not isinstance(o, dict) or o.get("type") != "relationship":
            continue
        rule = RELATIONSHIPS.get(o.get("relationship_type"))
        src, dst = by_id.get(o.get("source_ref")), by_id.get(o.get("target_ref"))
        if rule and src and dst and (src.get("type") not in rule[0] or
                                     dst.get("type") not in rule[1]):
            errs.append(f"objects[{i}] (relationship {o.get('id')}): {src.get('type')} "
                        f"{o['relationship_type']} {dst.get('type')} is not a STIX 2.1 relationship")
    expect = {
        "created_by_ref": {"identity"},
        "object_marking_refs": {"marking-definition"},
        "where_sighted_refs": {"identity", "location"},
        "sighting_of_ref": SDO_TYPES,
    }
    for i, o in enumerate(objs):
        if not isinstance(o, dict):
            continue
        where = f"objects[{i}] ({o.get('type')} {o.get('id')})"
        for prop, ref in _refs(o):
            m = ID_RE.match(ref) if isinstance(ref, str) else None
            if not m:
                errs.append(f"{where}: {prop} {ref!r} is not an identifier")
                continue
            if ref not in by_id and ref not in TLP_IDS:
                errs.append(f"{where}: {prop} {ref} does not resolve in the bundle")
            base = re.sub(r"\[\d+\]$", "", prop).split(".")[-1]
            if base in expect and m.group(1) not in expect[base]:
                errs.append(f"{where}: {prop} points to a {m.group(1)}")
    return errs


def attack_ids(bundle):
    """ATT&CK ids of the bundle's attack patterns."""
    return {e["external_id"] for o in bundle.get("objects", []) if o.get("type") == "attack-pattern"
            for e in o.get("external_references", []) if e.get("source_name") == "mitre-attack"}


def check_identity_stable(bundles):
    """Every bundle has one reporter identity, created_by_ref of all it holds, and it is the same
    in every bundle (what lets a consumer see one reporter across reports)."""
    errs, ids = [], set()
    for n, b in enumerate(bundles):
        idents = [o["id"] for o in b.get("objects", []) if o.get("type") == "identity"]
        if len(idents) != 1:
            errs.append(f"bundle {n}: {len(idents)} identities, expected one")
            continue
        ids.add(idents[0])
        creators = {o.get("created_by_ref") for o in b["objects"]
                    if o.get("type") != "marking-definition"}
        if creators != {idents[0]}:
            errs.append(f"bundle {n}: objects created by {creators - {idents[0]}}")
    if len(ids) > 1:
        errs.append(f"the reporter identity differs across reports: {sorted(ids)}")
    return errs


# MISP: the attribute types we use and the categories MISP allows them in (from MISP's
# describeTypes); values checked per type.
MISP_TYPES = {
    "ip-src": {"Network activity", "Payload delivery", "External analysis"},
    "ip-dst": {"Network activity", "Payload delivery", "External analysis"},
    "url": {"Network activity", "Payload delivery", "External analysis"},
    "uri": {"Network activity"},
    "user-agent": {"Network activity", "Payload delivery"},
    "domain": {"Network activity", "Payload delivery", "External analysis"},
    "hostname": {"Network activity", "Payload delivery", "External analysis"},
    "text": {"Other", "External analysis", "Network activity", "Payload delivery"},
    "comment": {"Other", "External analysis", "Network activity", "Payload delivery"},
}
MISP_UUID_RE = re.compile(r"^" + UUID_RE + r"$")


def check_misp(doc):
    errs = []
    if not isinstance(doc, dict) or not isinstance(doc.get("Event"), dict):
        return ["MISP: top level must be {\"Event\": {...}}"]
    ev = doc["Event"]
    if not isinstance(ev.get("info"), str) or not ev["info"].strip():
        errs.append("Event: info must be a non-empty string")
    try:
        datetime.date.fromisoformat(str(ev.get("date")))
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", str(ev.get("date"))):
            raise ValueError
    except ValueError:
        errs.append(f"Event: date {ev.get('date')!r} is not YYYY-MM-DD")
    for k, allowed in (("threat_level_id", "1234"), ("analysis", "012"),
                       ("distribution", "01234")):
        if str(ev.get(k)) not in allowed or ev.get(k) in (None, ""):
            errs.append(f"Event: {k} {ev.get(k)!r} not one of {list(allowed)}")
    if not MISP_UUID_RE.match(str(ev.get("uuid", ""))):
        errs.append(f"Event: uuid {ev.get('uuid')!r} is not a UUID")
    orgc = ev.get("Orgc")
    if not isinstance(orgc, dict) or not orgc.get("name") or \
            not MISP_UUID_RE.match(str(orgc.get("uuid", ""))):
        errs.append(f"Event: Orgc {orgc!r} needs a name and a uuid (feeds key the creator on it)")
    if "timestamp" in ev and not str(ev["timestamp"]).isdigit():
        errs.append("Event: timestamp must be epoch seconds")
    tags = ev.get("Tag", [])
    if not isinstance(tags, list):
        errs.append("Event: Tag must be a list")
        tags = []
    names = []
    for i, t in enumerate(tags):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            errs.append(f"Event.Tag[{i}]: needs a name")
        else:
            names.append(t["name"])
    tlp = [n for n in names if n.lower().startswith("tlp:")]
    if len(tlp) > 1:
        errs.append(f"Event: more than one TLP tag {tlp}")
    for n in tlp:
        if n.lower() not in ("tlp:white", "tlp:clear", "tlp:green", "tlp:amber", "tlp:amber+strict",
                             "tlp:red"):
            errs.append(f"Event: unknown TLP tag {n}")
    attrs = ev.get("Attribute", [])
    if not isinstance(attrs, list):
        return errs + ["Event: Attribute must be a list"]
    seen_uuid = set()
    for i, a in enumerate(attrs):
        where = f"Event.Attribute[{i}]"
        if not isinstance(a, dict):
            errs.append(f"{where}: not an object")
            continue
        typ, cat, val = a.get("type"), a.get("category"), a.get("value")
        where = f"Event.Attribute[{i}] ({typ} {val!r})"
        if typ not in MISP_TYPES:
            errs.append(f"{where}: unknown or unexpected type")
        elif cat not in MISP_TYPES[typ]:
            errs.append(f"{where}: category {cat!r} not allowed for {typ}")
        if not isinstance(val, str) or not val:
            errs.append(f"{where}: value must be a non-empty string")
        elif typ == "url" and not re.match(r"^[a-z][a-z0-9+.-]*://", val, re.I):
            errs.append(f"{where}: a url is absolute (scheme://host...); a request path is a uri")
        elif typ in ("ip-src", "ip-dst"):
            try:
                ipaddress.ip_address(val)
            except ValueError:
                errs.append(f"{where}: value is not an IP address")
        if not isinstance(a.get("to_ids"), bool):
            errs.append(f"{where}: to_ids must be a boolean")
        u = str(a.get("uuid", ""))
        if not MISP_UUID_RE.match(u):
            errs.append(f"{where}: uuid is not a UUID")
        elif u in seen_uuid:
            errs.append(f"{where}: duplicate uuid")
        seen_uuid.add(u)
        if "timestamp" in a and not str(a["timestamp"]).isdigit():
            errs.append(f"{where}: timestamp must be epoch seconds")
        if "distribution" in a and str(a["distribution"]) not in "012345":
            errs.append(f"{where}: bad distribution")
        if "comment" in a and not isinstance(a["comment"], str):
            errs.append(f"{where}: comment must be a string")
        fs, ls = a.get("first_seen"), a.get("last_seen")
        for k, v in (("first_seen", fs), ("last_seen", ls)):
            if v is not None and parse_ts(v) is None:
                errs.append(f"{where}: {k} is not an ISO-8601 UTC time")
        if parse_ts(fs) and parse_ts(ls) and parse_ts(ls) < parse_ts(fs):
            errs.append(f"{where}: last_seen before first_seen")
    return errs


def check(doc):
    """Detects the format and checks it."""
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        return check_stix(doc)
    if isinstance(doc, dict) and "Event" in doc:
        return check_misp(doc)
    return ["neither a STIX bundle nor a MISP event"]


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    bad = 0
    for path in argv[1:]:
        try:
            with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            bad = 1
            continue
        for e in check(doc):
            print(f"{path}: {e}", file=sys.stderr)
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
