"""A property-based tester of gavel's HTTP API, driven by its own OpenAPI document.

Usage: fuzz.py BASE_URL SEED SECONDS  (tokens on stdin as JSON: {"admin": ..., "agent": ...})

For a fixed seed and time budget it calls random operations with parameters and bodies generated
from the document's schemas (mostly valid, sometimes mutated: a wrong type, an unknown field, an
out-of-range number, odd strings), as admin, as an agent or anonymously, and checks each answer:
  * no 5xx;
  * the status is one the operation documents;
  * a JSON body validates against the documented schema of that status (JSON Schema 2020-12, as
    OpenAPI 3.1 specifies, by `jsonschema`).
Prints one JSON object: {"calls": n, "failures": [...], "statuses": {...}}.
"""
import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

base, seed, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
tokens = json.load(sys.stdin)
rng = random.Random(seed)
doc = json.loads(urllib.request.urlopen(base + "/v1/openapi.json").read())
components = doc.get("components", {})

ODD_STRINGS = ["", " ", "a" * 300, "../../etc/passwd", "%00", "null", "0", "-1", "1e400",
               "\u202e\u0000x", "soc2", "admin", "2026-01-01", "2026-03-05T09:00:00Z", "✓", "{}"]
ID_PREFIXES = ["usr", "agt", "chg", "dec", "apr", "fnd", "whk", "hold", "inc", "scan", "exp", "shr"]


def resolve(schema):
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = components["schemas"][name]
    return schema


def gen_string(schema):
    if "enum" in schema:
        return rng.choice(schema["enum"])
    r = rng.random()
    if r < 0.3:
        return rng.choice(ODD_STRINGS)
    if r < 0.5:
        return f"{rng.choice(ID_PREFIXES)}_{rng.getrandbits(96):024x}"
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_.") for _ in range(rng.randint(1, 12)))


def gen(schema, depth=0):
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return rng.choice(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return gen(rng.choice(schema[key]), depth + 1)
    if "allOf" in schema:
        return gen(schema["allOf"][0], depth + 1)
    t = schema.get("type", "object")
    if isinstance(t, list):
        t = rng.choice([x for x in t if x != "null"] or ["null"])
    if t == "null":
        return None
    if t == "string":
        return gen_string(schema)
    if t == "integer":
        lo = schema.get("minimum", 0)
        return rng.choice([lo, lo + 1, rng.randint(0, 1000), rng.randint(0, 2**31), 2**53 - 1, 2**64])
    if t == "number":
        return rng.choice([0, 0.5, 1e9, -1.0, 123.456])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "array":
        if depth > 3:
            return []
        return [gen(schema.get("items", {}), depth + 1) for _ in range(rng.randint(0, 3))]
    # object
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = {}
    for name, sub in props.items():
        if name in required or rng.random() < 0.5:
            out[name] = gen(sub, depth + 1)
    if not props and depth < 2 and rng.random() < 0.3:
        out[gen_string({})] = gen_string({})
    return out


def mutate(value):
    r = rng.random()
    if r < 0.3:
        return rng.choice([None, 1, "x", [], True, {"unknown_field": 1}])
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        if r < 0.6:
            value[key] = rng.choice([None, -1, 2**64, "", [], {}, "a" * 5000])
        else:
            value["unexpected"] = 1
    return value


def operations():
    for path, item in doc["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method in item:
                yield method, path, item[method]


ops = list(operations())
failures, statuses, calls = [], {}, 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    method, path, op = rng.choice(ops)
    url_path = path
    query = {}
    for p in op.get("parameters", []):
        value = gen(p.get("schema", {"type": "string"}))
        if p["in"] == "path":
            if not isinstance(value, str) or rng.random() < 0.3:
                value = gen_string({})
            url_path = url_path.replace("{" + p["name"] + "}", urllib.parse.quote(str(value), safe="") or "x")
        elif p["in"] == "query" and (p.get("required") or rng.random() < 0.5):
            if rng.random() < 0.1:
                value = gen_string({})
            if isinstance(value, bool):
                value = str(value).lower()
            query[p["name"]] = "" if value is None else str(value)
    if "wait" in query:
        query["wait"] = "0"  # long polls would only spend the time budget
    body = None
    rb = op.get("requestBody")
    if rb and ("application/json" in rb.get("content", {})) and (rb.get("required") or rng.random() < 0.7):
        body = gen(rb["content"]["application/json"].get("schema", {}))
        if rng.random() < 0.2:
            body = mutate(body)
    who = rng.choices(["admin", "agent", None], weights=[75, 15, 10])[0]
    url = base + url_path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method.upper())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if who:
        req.add_header("Authorization", "Bearer " + tokens[who])
    try:
        resp = urllib.request.urlopen(req, timeout=30)
        status, ctype, raw = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        status, ctype, raw = e.code, e.headers.get("Content-Type", ""), e.read()
    except Exception as e:  # a reset or a timeout is a failure too
        failures.append({"op": f"{method.upper()} {path}", "url": url, "body": body, "error": repr(e)})
        calls += 1
        continue
    calls += 1
    key = f"{method.upper()} {path} {status}"
    statuses[key] = statuses.get(key, 0) + 1
    where = {"op": f"{method.upper()} {path}", "url": url, "as": who, "body": body, "status": status,
             "answer": raw[:400].decode("utf-8", "replace")}
    if status >= 500 and not (status == 503 and path == "/readyz"):
        failures.append({**where, "why": "server error"})
        continue
    documented = op.get("responses", {})
    response = documented.get(str(status)) or documented.get("default")
    if response is None:
        failures.append({**where, "why": f"status {status} is not documented"})
        continue
    content = response.get("content", {})
    if ctype.startswith("application/json") and "application/json" in content:
        schema = content["application/json"].get("schema")
        try:
            instance = json.loads(raw)
            jsonschema.Draft202012Validator({"components": components, **schema}).validate(instance)
        except (ValueError, jsonschema.ValidationError) as e:
            failures.append({**where, "why": f"schema: {str(e)[:300]}"})
    elif content and not any(m == "*/*" or ctype.startswith(m) for m in content):
        failures.append({**where, "why": f"content type {ctype!r} is not documented ({list(content)})"})

print(json.dumps({"calls": calls, "failures": failures, "statuses": statuses}))
