#!/usr/bin/env python3
"""A fake Stripe API (customers only) for the tests of JobKit's Stripe client, started as a child process.

Standard library only (no venv). Stripe's wire format (API 2024+): form-encoded requests in Stripe's nested syntax,
JSON answers, Stripe's error bodies and headers, Stripe's idempotency-key semantics.

    fake-stripe.py --port 0 [--host 127.0.0.1] [--secret-key sk_test_fake] [--verbose] [--no-parent-watch]
        Serve HTTP/1.1 (keep-alive) on the loopback. The FIRST line on stdout is exactly `LISTENING <port>` (flushed);
        nothing else is ever written to stdout; stderr stays quiet unless --verbose (one line per call, no secrets).
        Exits 0 on SIGTERM or SIGINT, and by itself when its parent process dies (unless --no-parent-watch).

Every /v1 request needs `Authorization: Bearer <--secret-key>` (or Basic with it as user), else 401 invalid_request_error (the key is never
echoed whole). Bodies (POST) and query strings are parsed with Stripe's nested syntax: `a[b][0][c]=v` →
{"a": {"b": [{"c": "v"}]}}, `expand[]=x` appends. Every answer has `Request-Id: req_…` and `Stripe-Version` (the
request's, else --api-version).
  POST   /v1/customers            email, name, description, phone, metadata[k], invoice_settings[default_payment_method],
                                  expand[] (ignored) → customer object. Another parameter → 400 parameter_unknown.
  GET    /v1/customers/{id}       → customer (a deleted one → {"id", "object", "deleted": true}).
  POST   /v1/customers/{id}       update; metadata is merged (`metadata[k]=` removes k, `metadata=` clears all).
  GET    /v1/customers[?email=&limit=&starting_after=]  → {"object": "list", "data", "has_more", "url"}, newest first.
  DELETE /v1/customers/{id}       → {"id", "object": "customer", "deleted": true}.
  An unknown (or, for update/delete, deleted) id → 404 resource_missing, param id.

Layers, in order (as at Stripe): auth (401) → injected 429 / 409 / 500 (before processing; nothing stored) →
idempotency (POST with Idempotency-Key only: the key is stored with method, path and parsed parameters when handling
begins; a later request with the same key and the same method + path + parameters replays the stored status, body
and extra headers byte for byte with `Idempotent-Replayed: true` and `Original-Request: req_…`, creating nothing;
same key, other parameters or endpoint → 400 idempotency_error, not stored) → injected 402 card_error (stored) or the
endpoint (its 200 / 402 / 404 are stored, a 400 for bad parameters is not) → injected 500 with after_processing (the
object IS created; the 500 is what is stored and replayed). A request meeting its key still unanswered → 409.

Front of localstripe (--upstream URL): the same layers (auth, injected failures, idempotency replay, Request-Id),
then the request goes to localstripe (scripts/fakes/localstripe-run.py), which keeps the objects, with exactly the
translations its 2017-era API needs and nothing else: `items[N][price]` is sent as `items[N][plan]` (prices are
localstripe plans), `proration_behavior` as the legacy `prorate`, and a subscription item's `plan` is also given as
its `price` in answers. Answered here instead: `POST /v1/prices` (makes a localstripe plan `price_…`; answers a
price), `GET /v1/prices/{id}`, `POST /v1/billing_portal/sessions` (the customer must exist upstream; answers a
session with a `url`). localstripe's plain-text 404s become Stripe's JSON 404. Webhooks are localstripe's own.

Control API (JSON, under /_fake/, no auth):
  POST /_fake/inject {"path": "/v1/customers" (a trailing * matches a prefix), "method": "POST" (null = any),
        "status": 429|500|409|402, "should_retry": "true"|"false"|null, "retry_after": seconds|null, "times": N (1),
        "after_processing": false (500 only), "code": "lock_timeout" (409 only: the lock-timeout body instead of
        the idempotency_error one)} → {"id": n}. The next N matching requests that reach the rule's layer fail so,
        with Stripe-Should-Retry / Retry-After headers when given.
  GET  /_fake/requests   [{"method", "path", "query", "form", "idempotency_key", "stripe_version", "replayed",
                          "status", "request_id"}] every /v1 request in order, recorded before its answer is sent.
  GET  /_fake/objects?type=customer   all customers (deleted ones included, with "deleted": true). With --upstream:
                                      ?type=customer|subscription|payment_method|… lists localstripe's (up to 100).
  POST /_fake/reset      forget everything → {"ok": true}.     GET /_fake/health → {"ok": true}
"""
import argparse
import base64
import copy
import json
import os
import re
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.error import HTTPError
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from urllib.request import Request, urlopen

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeserver  # noqa: E402  (scripts/fakes/fakeserver.py)

ALPHABET = string.ascii_letters + string.digits
CUSTOMER_PARAMS = {"email", "name", "description", "phone", "metadata", "invoice_settings", "expand"}
ERROR_BODIES = {
    429: {"type": "invalid_request_error", "code": "rate_limit",
          "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."},
    500: {"type": "api_error", "message": "An unknown error occurred"},
    409: {"type": "idempotency_error",
          "message": "There is currently another in-progress request using this idempotent key (that probably means "
                     "you submitted twice, and that's fine). Please try again later."},
    402: {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
          "message": "Your card has insufficient funds."},
}
LOCK_TIMEOUT = {"type": "invalid_request_error", "code": "lock_timeout",
                "message": "This object cannot be accessed right now because another API request or Stripe process is "
                           "currently accessing it. If you see this error intermittently, retry the request."}


def new_id(prefix, n=14):
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(n))


class StripeError(Exception):
    def __init__(self, status, type_, message, **extra):
        super().__init__(message)
        self.status, self.body = status, {"error": {"type": type_, "message": message, **extra}}


def error_body(type_, message):
    return {"error": {"type": type_, "message": message}}


def bad_param(message, param, code="parameter_invalid_string"):
    return StripeError(400, "invalid_request_error", message, code=code, param=param)


def parse_form(text):
    """`a[b][0][c]=v&e[]=x` → {"a": {"b": [{"c": "v"}]}, "e": ["x"]}. Values stay strings."""
    root = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        base, rest = key.split("[", 1)[0], key[len(key.split("[", 1)[0]):]
        segs = [base] + re.findall(r"\[([^\[\]]*)\]", rest)
        if not base or "".join(f"[{s}]" for s in segs[1:]) != rest:
            raise bad_param(f"Invalid parameter name: {key}", key, "parameter_invalid")
        node = root
        for i, seg in enumerate(segs):
            last = i == len(segs) - 1
            fresh = value if last else ([] if segs[i + 1] == "" or segs[i + 1].isdigit() else {})
            if isinstance(node, list):
                if seg == "":
                    node.append(fresh)
                    seg = len(node) - 1
                elif seg.isdigit() and int(seg) < 1000:
                    seg = int(seg)
                    node.extend([None] * (seg + 1 - len(node)))
                    if last or node[seg] is None:
                        node[seg] = fresh
                else:
                    raise bad_param(f"Invalid array index in {key}", key, "parameter_invalid")
            elif last or seg not in node:
                node[seg] = fresh
            child = node[seg]
            if not last and type(child) is not type(fresh):
                raise bad_param(f"Conflicting structure for parameter {key}", key, "parameter_invalid")
            node = child
    return root


def flatten(value, prefix=""):
    """The inverse of parse_form: {"a": {"b": ["x"]}} → [("a[b][0]", "x")]."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from flatten(sub, f"{prefix}[{key}]" if prefix else key)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from flatten(sub, f"{prefix}[{i}]")
    else:
        yield prefix, "" if value is None else value


def price_of(plan):
    """A localstripe plan as the price it stands for."""
    return {"id": plan["id"], "object": "price", "active": plan.get("active", True), "billing_scheme": "per_unit",
            "created": plan.get("created"), "currency": plan.get("currency"), "livemode": False, "lookup_key": None,
            "metadata": plan.get("metadata") or {}, "nickname": plan.get("nickname"), "product": plan.get("product"),
            "recurring": {"interval": plan.get("interval"), "interval_count": plan.get("interval_count", 1),
                          "usage_type": plan.get("usage_type", "licensed")},
            "type": "recurring", "unit_amount": plan.get("amount")}


def modernize(node):
    """Gives every subscription item with a plan its price too (answers from localstripe)."""
    if isinstance(node, list):
        for sub in node:
            modernize(sub)
    elif isinstance(node, dict):
        if node.get("object") == "subscription_item" and isinstance(node.get("plan"), dict) and not node.get("price"):
            node["price"] = price_of(node["plan"])
        for sub in node.values():
            modernize(sub)
    return node


class Fake:
    def __init__(self, secret_key, api_version, verbose, upstream=None):
        self.secret_key, self.api_version, self.verbose = secret_key, api_version, verbose
        self.upstream = upstream.rstrip("/") if upstream else None
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.customers = {}      # id → customer (insertion order = creation order)
        self.idempotency = {}    # key → {"fingerprint", "status", "body", "headers", "request_id"}
        self.requests, self.injections = [], []
        self.hold_answers_ms = 0

    def take_injection(self, method, path, layer):
        for rule in self.injections:
            if rule["left"] <= 0 or rule["layer"] != layer or (rule["method"] and rule["method"] != method):
                continue
            pattern = rule["path"]
            if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
                rule["left"] -= 1
                return rule
        return None

    def customer(self, cid, alive=True):
        found = self.customers.get(cid)
        if found is None or (alive and found.get("deleted")):
            raise StripeError(404, "invalid_request_error", f"No such customer: '{cid}'", code="resource_missing",
                              param="id")
        return found

    def apply(self, cust, form):
        for key, value in form.items():
            if key not in CUSTOMER_PARAMS:
                raise bad_param(f"Received unknown parameter: {key}", key, "parameter_unknown")
            if key in ("email", "name", "description", "phone"):
                if not isinstance(value, str):
                    raise bad_param(f"Invalid string: {key}", key)
                cust[key] = value or None
            elif key == "metadata":
                if value != "" and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
                    raise bad_param("Invalid metadata: must be a hash of strings", "metadata", "parameter_invalid")
                merged = {**cust["metadata"], **value} if value else {}
                cust["metadata"] = {k: v for k, v in merged.items() if v != ""}  # `metadata[k]=` unsets k
            elif key == "invoice_settings":
                if not isinstance(value, dict):
                    raise bad_param("Invalid hash", "invoice_settings", "parameter_invalid")
                for k, v in value.items():
                    if k != "default_payment_method":
                        raise bad_param(f"Received unknown parameter: invoice_settings[{k}]",
                                        f"invoice_settings[{k}]", "parameter_unknown")
                    cust["invoice_settings"][k] = v or None

    def call_upstream(self, method, path, params):
        """One request to localstripe → (status, body as JSON)."""
        data = urlencode(list(flatten(params))).encode() if method == "POST" else None
        query = "" if method == "POST" or not params else "?" + urlencode(list(flatten(params)))
        request = Request(self.upstream + path + query, data=data, method=method,
                          headers={"Authorization": f"Bearer {self.secret_key}"})
        try:
            with urlopen(request, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            if status == 404:
                raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
            raise StripeError(500, "api_error", f"localstripe answered {status}: {raw[:200]!r}")

    def proxy(self, method, path, entry):
        form, query = copy.deepcopy(entry["form"]), entry["query"]
        parts = path.strip("/").split("/")
        if parts == ["v1", "billing_portal", "sessions"] and method == "POST":
            customer = form.get("customer")
            if not isinstance(customer, str) or not customer:
                raise bad_param("Missing required param: customer.", "customer", "parameter_missing")
            status, body = self.call_upstream("GET", f"/v1/customers/{customer}", {})
            if status != 200:
                return status, body
            sid = new_id("bps_")
            return 200, {"id": sid, "object": "billing_portal.session", "configuration": "bpc_fake",
                         "created": int(time.time()), "customer": customer, "flow": None, "livemode": False,
                         "locale": None, "on_behalf_of": None, "return_url": form.get("return_url"),
                         "url": f"https://billing.stripe.com/p/session/test_{sid}"}
        if parts[:2] == ["v1", "prices"]:
            if method == "POST" and len(parts) == 2:
                recurring = form.get("recurring") or {}
                plan = {"id": form.get("lookup_key") or new_id("price_"), "product": form.get("product"),
                        "amount": form.get("unit_amount"), "currency": form.get("currency"),
                        "interval": recurring.get("interval", "month")}
                status, body = self.call_upstream("POST", "/v1/plans", plan)
                return status, price_of(body) if status == 200 else body
            if method == "GET" and len(parts) == 3:
                status, body = self.call_upstream("GET", f"/v1/plans/{parts[2]}", {})
                return status, price_of(body) if status == 200 else body
        if parts[:2] == ["v1", "subscriptions"] and method == "POST":
            for item in form.get("items") or []:
                if isinstance(item, dict) and "price" in item:
                    item["plan"] = item.pop("price")
            if "proration_behavior" in form:
                form["prorate"] = "false" if form.pop("proration_behavior") == "none" else "true"
        status, body = self.call_upstream(method, path, form if method == "POST" else query)
        return status, modernize(body)

    def handle(self, method, path, entry):
        if self.upstream:
            return self.proxy(method, path, entry)
        query, form = entry["query"], entry["form"]
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "customers"] and len(parts) == 2:
            if method == "POST":
                cust = {"id": new_id("cus_"), "object": "customer", "address": None, "balance": 0,
                        "created": int(time.time()), "currency": None, "default_source": None, "delinquent": False,
                        "description": None, "email": None, "invoice_prefix": new_id("", 8).upper(),
                        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                             "rendering_options": None},
                        "livemode": False, "metadata": {}, "name": None, "phone": None, "preferred_locales": [],
                        "shipping": None, "tax_exempt": "none", "test_clock": None}
                self.apply(cust, form)
                self.customers[cust["id"]] = cust
                return 200, cust
            if method == "GET":
                limit = query.get("limit", "10")
                if not isinstance(limit, str) or not limit.isdigit() or not 1 <= int(limit) <= 100:
                    raise bad_param("Invalid limit: must be an integer 1…100", "limit", "parameter_invalid_integer")
                limit = int(limit)
                data = [c for c in reversed(self.customers.values()) if not c.get("deleted")
                        and ("email" not in query or c["email"] == query["email"])]
                if "starting_after" in query:
                    self.customer(query["starting_after"], alive=False)
                    ids = [c["id"] for c in data]
                    data = data[ids.index(query["starting_after"]) + 1:] if query["starting_after"] in ids else []
                return 200, {"object": "list", "data": data[:limit], "has_more": len(data) > limit,
                             "url": "/v1/customers"}
        elif parts[:2] == ["v1", "customers"] and len(parts) == 3:
            if method == "GET":
                return 200, self.customer(parts[2], alive=False)
            if method == "POST":
                cust = self.customer(parts[2])
                updated = json.loads(json.dumps(cust))
                self.apply(updated, form)  # all or nothing: a bad parameter changes nothing
                self.customers[cust["id"]] = updated
                return 200, updated
            if method == "DELETE":
                cust = self.customer(parts[2])
                self.customers[cust["id"]] = {"id": cust["id"], "object": "customer", "deleted": True}
                return 200, self.customers[cust["id"]]
        raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}). Please see "
                          "https://stripe.com/docs or we can help at https://support.stripe.com/.")


def injected_error(rule):
    body = LOCK_TIMEOUT if rule["status"] == 409 and rule.get("code") == "lock_timeout" else ERROR_BODIES[rule["status"]]
    headers = {}
    if rule["should_retry"] is not None:
        headers["Stripe-Should-Retry"] = str(rule["should_retry"]).lower()
    if rule["retry_after"] is not None:
        headers["Retry-After"] = str(rule["retry_after"])
    return rule["status"], {"error": dict(body)}, headers


def redact(key):
    return key[:8] + "*" * 8 + key[-4:] if len(key) > 14 else "*" * len(key)


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-stripe"
        sys_version = ""
        disable_nagle_algorithm = True
        log_message = lambda *_: None  # noqa: E731

        def send(self, status, body, headers=None):
            data = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.route(self.command)

        do_POST = do_DELETE = do_GET

        def route(self, method):
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            try:
                if url.path.startswith("/_fake/"):
                    return self.send(*self.control(method, url.path[len("/_fake/"):].strip("/"), url.query, raw))
                self.stripe(method, url.path, url.query, raw)
            except Exception as error:  # a bug in the fake: say so loudly, answer 500
                import traceback
                traceback.print_exc(file=sys.stderr)
                self.send(500, {"error": {"type": "api_error", "message": f"fake-stripe bug: {error!r}"}})

        def stripe(self, method, path, query_text, raw):
            request_id = new_id("req_")
            key = self.headers.get("Idempotency-Key")
            version = self.headers.get("Stripe-Version")
            entry = {"method": method, "path": path, "query": {}, "form": {}, "idempotency_key": key,
                     "stripe_version": version, "replayed": False, "status": None, "request_id": request_id}
            headers = {"Request-Id": request_id, "Stripe-Version": version or fake.api_version}
            with fake.lock:
                status, body, extra = self.process(method, path, query_text, raw, key, entry, headers)
                entry["status"] = status
                fake.requests.append(entry)
                hold = fake.hold_answers_ms if method == "POST" else 0
            headers.update(extra)
            if hold:  # the request is processed (and stored under its key); only the answer is late
                time.sleep(hold / 1000)
            self.send(status, body, headers)
            if fake.verbose:
                print(f"fake-stripe: {method} {path} → {status}{' (replayed)' if entry['replayed'] else ''}",
                      file=sys.stderr, flush=True)

        def process(self, method, path, query_text, raw, key, entry, headers):
            refused = None
            try:
                entry["query"] = parse_form(query_text)
                entry["form"] = parse_form(raw) if method == "POST" else {}
            except StripeError as error:
                refused = error
            scheme, _, given = (self.headers.get("Authorization") or "").strip().partition(" ")
            if scheme.lower() == "basic":  # `curl -u sk_test_…:` works at Stripe too
                try:
                    given = base64.b64decode(given.strip(), validate=True).decode().partition(":")[0]
                except ValueError:
                    given = ""
            given = given.strip() if scheme.lower() in ("basic", "bearer") else ""
            if not given:
                return 401, error_body("invalid_request_error", "You did not provide an API key. You need to provide "
                                       "your API key in the Authorization header, using Bearer auth (e.g. "
                                       "'Authorization: Bearer YOUR_SECRET_KEY')."), {}
            if not secrets.compare_digest(given.encode(), fake.secret_key.encode()):
                return 401, error_body("invalid_request_error", f"Invalid API Key provided: {redact(given)}"), {}
            if refused is not None:
                return refused.status, refused.body, {}
            rule = fake.take_injection(method, path, "before")
            if rule is not None:
                return injected_error(rule)
            stored = None
            if method == "POST" and key is not None:
                if not 0 < len(key) <= 255:
                    return 400, error_body("invalid_request_error", "Invalid idempotency key: must be 1 to 255 "
                                           "characters long"), {}
                endpoint, stored = f"{method} {path}", fake.idempotency.get(key)
                other = f"Try using a key other than '{key}' if you meant to execute a different request."
                if stored is not None and stored["endpoint"] != endpoint:
                    return 400, error_body("idempotency_error", "Keys for idempotent requests can only be used for the "
                                           f"same endpoint they were first used for ('{stored['endpoint']}' vs "
                                           f"'{endpoint}'). {other}"), {}
                if stored is not None and stored["params"] != entry["form"]:
                    return 400, error_body("idempotency_error", "Keys for idempotent requests can only be used with "
                                           f"the same parameters they were first used with. {other}"), {}
                if stored is not None and stored["status"] is None:  # still running (or the fake broke on it)
                    return injected_error({"status": 409, "should_retry": None, "retry_after": None})
                if stored is not None:
                    entry["replayed"] = True
                    return stored["status"], stored["body"], {**stored["headers"], "Idempotent-Replayed": "true",
                                                              "Original-Request": stored["request_id"]}
                stored = fake.idempotency[key] = {"endpoint": endpoint, "params": entry["form"], "status": None,
                                                  "body": None, "headers": {}, "request_id": headers["Request-Id"]}
            rule = fake.take_injection(method, path, "card")
            try:
                status, body, extra = injected_error(rule) if rule else (*fake.handle(method, path, entry), {})
                rule = fake.take_injection(method, path, "after") if not rule else None
                if rule is not None:
                    status, body, extra = injected_error(rule)
            except StripeError as error:
                if error.status == 400 and stored is not None:  # refused parameters: nothing is stored (as at Stripe)
                    del fake.idempotency[key]
                    stored = None
                status, body, extra = error.status, error.body, {}
            body = json.dumps(body, indent=2).encode()
            if stored is not None:
                stored.update(status=status, body=body, headers=extra)
            return status, body, extra

        def control(self, method, route, query_text, raw):
            query = dict(parse_qsl(query_text))
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return 400, {"error": "body is not JSON"}
            with fake.lock:
                if (method, route) == ("GET", "health"):
                    return 200, {"ok": True}
                if (method, route) == ("POST", "reset"):
                    fake.reset()
                    return 200, {"ok": True}
                if (method, route) == ("POST", "hold"):  # {"ms": N}: POST answers leave N ms after processing
                    fake.hold_answers_ms = int(body.get("ms", 0))
                    return 200, {"ms": fake.hold_answers_ms}
                if (method, route) == ("GET", "requests"):
                    return 200, fake.requests
                if (method, route) == ("GET", "objects") and fake.upstream:
                    status, body = fake.call_upstream("GET", f"/v1/{query.get('type', 'customer')}s", {"limit": "100"})
                    return status, body.get("data", body) if isinstance(body, dict) else body
                if (method, route) == ("GET", "objects"):
                    if query.get("type", "customer") != "customer":
                        return 400, {"error": "type must be customer"}
                    return 200, list(fake.customers.values())
                if (method, route) == ("POST", "inject"):
                    return self.inject(body)
            return 404, {"error": f"no control route {method} /_fake/{unquote(route)}"}

        def inject(self, body):
            if not isinstance(body, dict) or not isinstance(body.get("path"), str):
                return 400, {"error": "body must be an object with a path"}
            status, after = body.get("status"), bool(body.get("after_processing", False))
            if status not in ERROR_BODIES:
                return 400, {"error": f"status must be one of {sorted(ERROR_BODIES)}"}
            if after and status != 500:
                return 400, {"error": "after_processing is for status 500 only"}
            should_retry = body.get("should_retry")
            if should_retry not in (None, True, False, "true", "false"):
                return 400, {"error": "should_retry must be \"true\", \"false\" or null"}
            times = body.get("times", 1)
            if not isinstance(times, int) or times < 1:
                return 400, {"error": "times must be a positive integer"}
            rule = {"id": len(fake.injections) + 1, "path": body["path"], "method": body.get("method"),
                    "status": status, "should_retry": should_retry, "retry_after": body.get("retry_after"),
                    "code": body.get("code"), "left": times,
                    "layer": "after" if after else "card" if status == 402 else "before"}
            fake.injections.append(rule)
            return 200, {"id": rule["id"]}

    return Handler


def main(argv):
    parser = argparse.ArgumentParser(description="A fake Stripe API for JobKit's tests (see the module docstring).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--secret-key", default="sk_test_fake")
    parser.add_argument("--api-version", default="2024-06-20")
    parser.add_argument("--upstream", help="localstripe's base URL: stand in front of it (see the module docstring)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-parent-watch", action="store_true")
    args = parser.parse_args(argv)

    parent = os.getppid()
    fake = Fake(args.secret_key, args.api_version, args.verbose, args.upstream)
    return fakeserver.serve(make_handler(fake), args.host, args.port, not args.no_parent_watch, parent)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
