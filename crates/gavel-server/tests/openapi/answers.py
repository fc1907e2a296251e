"""Checks real answers of gavel's HTTP API against the 2xx schemas its OpenAPI document declares.

Usage: answers.py  (stdin: {"doc": <the served document>, "calls": [{"method", "path", "status", "body"}]})

`path` is the concrete path that was called (query string allowed); it is matched to the
document's template with the most literal segments. For each call:
  * its status must be documented for the operation;
  * a declared JSON schema (anything but the bare `{"type": "object"}` placeholder the document
    gives an untyped answer) must validate the body (JSON Schema 2020-12, as OpenAPI 3.1
    specifies, by `jsonschema`), and
  * every member of every object in the body must be declared by the schema that validated it
    (a property, or a typed `additionalProperties`), so a field the handler sends but the schema
    does not name is caught too, not only a missing or mistyped one. Free-form objects (no
    properties declared) are not descended into.
Prints one JSON object: {"typed": [ops with a declared 2xx schema], "validated": [ops whose 2xx
answer was validated], "failures": [...]}.
"""
import json
import sys

import jsonschema

given = json.load(sys.stdin)
doc, calls = given["doc"], given["calls"]
components = doc.get("components", {})
METHODS = ("get", "put", "post", "delete", "patch")


def validator(schema):
    return jsonschema.Draft202012Validator({"components": components, **schema})


def resolve(schema):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = components["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def declared_schema(op):
    """The JSON schema of the operation's 2xx answer, if one is declared (not the placeholder)."""
    for status, response in op.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        placeholder = schema.get("type") == "object" and set(schema) <= {"type", "description"}
        if not placeholder:
            return schema
    return None


def template_of(method, path):
    segments = path.split("?")[0].strip("/").split("/")
    best, best_literals = None, -1
    for template, item in doc["paths"].items():
        if method not in item:
            continue
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        if all(p.startswith("{") or p == s for p, s in zip(parts, segments)):
            literals = sum(not p.startswith("{") for p in parts)
            if literals > best_literals:
                best, best_literals = template, literals
    return best


def undeclared(schema, instance, where, out):
    """Appends to `out` every member of `instance` that `schema` does not declare."""
    if isinstance(instance, dict):
        props, extra, typed = {}, None, False

        def collect(s):
            nonlocal extra, typed
            s = resolve(s)
            if not isinstance(s, dict):
                return
            if "properties" in s:
                props.update(s["properties"])
                typed = True
            if isinstance(s.get("additionalProperties"), dict) and s["additionalProperties"]:
                extra = s["additionalProperties"]
                typed = True
            for sub in s.get("allOf", []):
                collect(sub)
            for key in ("oneOf", "anyOf"):
                for sub in s.get(key, []):
                    if validator(sub).is_valid(instance):
                        collect(sub)

        collect(schema)
        if not typed:
            return
        for name, value in instance.items():
            if name in props:
                undeclared(props[name], value, f"{where}.{name}", out)
            elif extra is not None:
                undeclared(extra, value, f"{where}.{name}", out)
            else:
                out.append(f"{where}.{name} is not declared by the schema")
    elif isinstance(instance, list):
        items = []

        def collect_items(s):
            s = resolve(s)
            if not isinstance(s, dict):
                return
            if "items" in s:
                items.append(s["items"])
            for sub in s.get("allOf", []):
                collect_items(sub)
            for key in ("oneOf", "anyOf"):
                for sub in s.get(key, []):
                    if validator(sub).is_valid(instance):
                        collect_items(sub)

        collect_items(schema)
        for i, value in enumerate(instance):
            for item_schema in items:
                undeclared(item_schema, value, f"{where}[{i}]", out)


typed = sorted(
    f"{m.upper()} {path}"
    for path, item in doc["paths"].items()
    for m in METHODS
    if m in item and declared_schema(item[m]) is not None
)
validated, failures = set(), []
for call in calls:
    method = call["method"].lower()
    template = template_of(method, call["path"])
    where = {"call": f"{method.upper()} {call['path']}", "status": call["status"]}
    if template is None:
        failures.append({**where, "why": "no operation of the document matches"})
        continue
    op = doc["paths"][template][method]
    key = f"{method.upper()} {template}"
    response = op.get("responses", {}).get(str(call["status"]))
    if response is None:
        failures.append({**where, "why": f"status {call['status']} is not documented for {key}"})
        continue
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None or declared_schema({"responses": {str(call["status"]): response}}) is None:
        continue
    errors = sorted(validator(schema).iter_errors(call["body"]), key=lambda e: list(e.absolute_path))
    if errors:
        failures.append({**where, "why": [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                                          for e in errors[:5]]})
        continue
    extra = []
    undeclared(schema, call["body"], "$", extra)
    if extra:
        failures.append({**where, "why": extra[:10]})
        continue
    validated.add(key)

print(json.dumps({"typed": typed, "validated": sorted(validated), "failures": failures}))
