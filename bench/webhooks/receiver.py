#!/usr/bin/env python3
"""A Standard Webhooks test receiver for gavel's end-to-end tests.

Verifies every delivery with the reference library (`pip install standardwebhooks`) and appends
one JSON line per request to --record: {"webhook_id", "verified", "responded", "error", "kind",
"signatures"} (signatures: how many `v1,` entries the `webhook-signature` header carried; two
during a secret rotation's overlap), plus "payload" (the verified JSON body) with --bodies.

  receiver.py --port-file P --secret-file S --record R [--fail-first N] [--status CODE] [--sleep SECS]
              [--bodies]

Listens on 127.0.0.1 on a free port and writes it to --port-file. The secret is read from
--secret-file on every request (the test writes it once the endpoint exists; until then requests
are recorded as unverified). --fail-first N answers 500 to the first N requests; --status answers
every request with CODE instead of 204; --sleep delays every answer.
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--status", type=int, default=204)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--bodies", action="store_true")
    args = ap.parse_args()
    lock = threading.Lock()
    state = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified, error, kind, payload = False, None, None, None
            try:
                with open(args.secret_file) as f:
                    secret = f.read().strip()
                payload = Webhook(secret).verify(body, headers)
                verified = True
                kind = payload.get("unmapped", {}).get("gavel", {}).get("kind")
            except Exception as e:  # noqa: BLE001 - recorded for the test to see
                error = f"{type(e).__name__}: {e}"
            if args.sleep:
                threading.Event().wait(args.sleep)
            with lock:
                state["requests"] += 1
                n = state["requests"]
            status = 500 if n <= args.fail_first else args.status
            with lock, open(args.record, "a") as f:
                record = {"webhook_id": headers.get("webhook-id"), "verified": verified,
                          "responded": status, "error": error, "kind": kind,
                          "signatures": len(headers.get("webhook-signature", "").split())}
                if args.bodies:
                    record["payload"] = payload
                f.write(json.dumps(record) + "\n")
                f.flush()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
