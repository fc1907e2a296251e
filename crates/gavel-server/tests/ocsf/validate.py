#!/usr/bin/env python3
"""Validates gavel webhook payloads against the OCSF JSON Schema of their class.

Reads one payload per line (JSON) on stdin. Each payload is checked against the schema that the
PyPI package `ocsf-json-schema` (pinned in .ci/run) generates for its `class_uid` in the OCSF
version named by `metadata.version`, with the `security_control` profile for API Activity (6003).
The `gavel` envelope (log seq, leaf hash, the event) is not OCSF and is removed first: OCSF
classes allow no unknown top-level attributes.

Prints one line per payload (`ok <class_uid> <kind>` or `FAIL ...` with every error) and exits 1
if any payload is invalid.
"""
import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

PROFILES = {6003: ["security_control"]}


def main():
    failed = 0
    schemas = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        payload = json.loads(line)
        kind = payload.get("gavel", {}).get("kind")
        body = {k: v for k, v in payload.items() if k != "gavel"}
        version = body["metadata"]["version"]
        uid = body["class_uid"]
        key = (version, uid)
        if key not in schemas:
            embedded = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
            name = embedded.lookup_class_name_from_uid(uid)
            schemas[key] = embedded.get_class_schema(name, PROFILES.get(uid, []))
        validator = jsonschema.Draft202012Validator(schemas[key])
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
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
