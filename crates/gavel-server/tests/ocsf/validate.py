#!/usr/bin/env python3
"""Validates gavel webhook payloads, exactly as delivered, against the OCSF JSON Schema.

Reads one payload per line (JSON) on stdin: the bytes a webhook request carries. Each payload is
checked, unchanged, against the schema that the PyPI package `ocsf-json-schema` (pinned in
gavel-testkit's oracles) generates for its `class_uid` in the OCSF version named by
`metadata.version`, with exactly the profiles the payload declares in `metadata.profiles`. Nothing
is removed first: OCSF classes admit no unknown attributes, so a field outside the class, its
declared profiles and `unmapped` fails here as it would in a SIEM that validates.

Prints one line per payload (`ok <class_uid> <kind>` or `FAIL ...` with every error; the kind is
read from `unmapped.gavel.kind`, or the top-level `gavel.kind` of older payloads, for the report
only) and exits 1 if any payload is invalid.
"""
import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema


def kind_of(payload):
    unmapped = payload.get("unmapped")
    envelope = unmapped.get("gavel") if isinstance(unmapped, dict) else None
    if not isinstance(envelope, dict):
        envelope = payload.get("gavel") if isinstance(payload.get("gavel"), dict) else {}
    kind = envelope.get("kind")
    return "<purged>" if kind is None else kind


def main():
    failed = 0
    schemas = {}
    embedded = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        payload = json.loads(line)
        kind = kind_of(payload)
        version = payload["metadata"]["version"]
        uid = payload["class_uid"]
        profiles = tuple(sorted(payload["metadata"].get("profiles", [])))
        key = (version, uid, profiles)
        if key not in schemas:
            if version not in embedded:
                embedded[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
            e = embedded[version]
            schemas[key] = e.get_class_schema(e.lookup_class_name_from_uid(uid), list(profiles))
        validator = jsonschema.Draft202012Validator(schemas[key])
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
        if errors:
            failed += 1
            print(f"FAIL {uid} {kind}:")
            for e in errors:
                print(f"   at /{'/'.join(str(p) for p in e.path)}: {e.message[:300]}")
        else:
            print(f"ok {uid} {kind}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
