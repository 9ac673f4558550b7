#!/usr/bin/env python3
"""A fake SendGrid v3 mail API and webhook receiver for JobKit's notification tests, started as a child process.

Standard library only. Binds the loopback only.

    fake-sendgrid.py --port 0 [--host 127.0.0.1] [--api-key SG.fake] [--no-parent-watch]
        The FIRST line on stdout is exactly `LISTENING <port>`. Exits on SIGTERM/SIGINT or when its parent dies.

  POST /v3/mail/send   SendGrid's wire format: `Authorization: Bearer <--api-key>` (else 401 with SendGrid's error
                       body), a JSON body with personalizations[0].to[0].email, from.email, subject and content[0]
                       (type, value) (else 400 {"errors": [{"message", "field"}]}). 202, empty body, `X-Message-Id`.
  POST /hooks/<name>   a webhook receiver: records the raw body and headers, answers 200.

Control (JSON, no auth):
  POST /_fake/inject {"path": "/v3/mail/send" | "/hooks/<name>", "status": 500, "times": 1} → the next N requests
       to the path get that status (recorded too, with "injected": true).
  GET  /_fake/mails    every accepted mail: {"message_id", "to", "from", "subject", "text", "custom_args"}.
  GET  /_fake/hooks    every webhook request: {"name", "body" (text), "headers" (lower-case names), "status"}.
  POST /_fake/hold {"ms": N}   accepted mails are recorded at once and answered N ms late (0: at once).
  POST /_fake/reset    forget everything.       GET /_fake/health → {"ok": true}
"""
import argparse
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeserver  # noqa: E402


class Fake:
    def __init__(self, api_key):
        self.api_key = api_key
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.mails, self.hooks, self.injections = [], [], []
        self.hold_ms = 0

    def take(self, path):
        for rule in self.injections:
            if rule["left"] > 0 and rule["path"] == path:
                rule["left"] -= 1
                return rule["status"]
        return None


def mail_errors(body):
    def field(message, name):
        return {"errors": [{"message": message, "field": name, "help": None}]}
    if not isinstance(body, dict):
        return field("Bad Request", None)
    p = body.get("personalizations")
    if not isinstance(p, list) or not p or not isinstance(p[0], dict):
        return field("The personalizations field is required and must have at least one personalization.", "personalizations")
    to = p[0].get("to")
    if not isinstance(to, list) or not to or not isinstance(to[0], dict) or "@" not in str(to[0].get("email", "")):
        return field("Does not contain a valid address.", "personalizations.0.to.0.email")
    if not isinstance(body.get("from"), dict) or "@" not in str(body["from"].get("email", "")):
        return field("The from object must be provided for every email send.", "from")
    if not isinstance(body.get("subject"), str) or not body["subject"]:
        return field("The subject is required.", "subject")
    c = body.get("content")
    if not isinstance(c, list) or not c or not isinstance(c[0], dict) or not c[0].get("type") or not isinstance(c[0].get("value"), str):
        return field("Unless a valid template_id is provided, the content parameter is required.", "content")
    return None


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-sendgrid"
        sys_version = ""
        log_message = lambda *_: None  # noqa: E731

        def send(self, status, body=None, headers=None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def route(self, method):
            path = urlsplit(self.path).path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hold = 0
            with fake.lock:
                if path.startswith("/_fake/"):
                    return self.control(method, path[len("/_fake/"):], raw)
                if method == "POST" and path == "/v3/mail/send":
                    answer = self.mail(raw)
                    hold = fake.hold_ms if answer[0] == 202 else 0
            if method == "POST" and path == "/v3/mail/send":
                if hold:  # the mail is accepted (recorded); only the answer is late
                    time.sleep(hold / 1000)
                return self.send(*answer)
            with fake.lock:
                if method == "POST" and path.startswith("/hooks/"):
                    status = fake.take(path) or 200
                    fake.hooks.append({"name": path[len("/hooks/"):], "body": raw.decode("utf-8", "replace"),
                                       "headers": {k.lower(): v for k, v in self.headers.items()}, "status": status})
                    return self.send(status, {"received": status < 300})
            self.send(404, {"errors": [{"message": "not found"}]})

        def mail(self, raw):
            """→ (status, body, headers); the caller sends it."""
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                return (401, {"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked",
                                                   "field": None, "help": None}]}, None)
            injected = fake.take("/v3/mail/send")
            if injected:
                return (injected, {"errors": [{"message": "injected failure", "field": None}]}, None)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            errors = mail_errors(body)
            if errors:
                return (400, errors, None)
            message_id = secrets.token_urlsafe(16)
            content = body["content"][0]
            fake.mails.append({"message_id": message_id, "to": body["personalizations"][0]["to"][0]["email"],
                               "from": body["from"]["email"], "subject": body["subject"], "text": content["value"],
                               "custom_args": body.get("custom_args") or {}})
            return (202, None, {"X-Message-Id": message_id})

        def control(self, method, route, raw):
            route = route.strip("/")
            if (method, route) == ("GET", "health"):
                return self.send(200, {"ok": True})
            if (method, route) == ("POST", "reset"):
                fake.reset()
                return self.send(200, {"ok": True})
            if (method, route) == ("POST", "hold"):  # {"ms": N}: accepted mails are answered N ms late
                fake.hold_ms = int(json.loads(raw or b"{}").get("ms", 0))
                return self.send(200, {"ms": fake.hold_ms})
            if (method, route) == ("GET", "mails"):
                return self.send(200, fake.mails)
            if (method, route) == ("GET", "hooks"):
                return self.send(200, fake.hooks)
            if (method, route) == ("POST", "inject"):
                body = json.loads(raw or b"{}")
                fake.injections.append({"path": body["path"], "status": int(body["status"]), "left": int(body.get("times", 1))})
                return self.send(200, {"ok": True})
            self.send(404, {"error": f"no control route {method} /_fake/{route}"})

    return Handler


def main(argv):
    parser = argparse.ArgumentParser(description="A fake SendGrid and webhook receiver (see the module docstring).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default="SG.fake")
    parser.add_argument("--no-parent-watch", action="store_true")
    args = parser.parse_args(argv)
    return fakeserver.serve(make_handler(Fake(args.api_key)), args.host, args.port, not args.no_parent_watch, os.getppid())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
