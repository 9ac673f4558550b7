#!/usr/bin/env python3
"""A fake Plaid API (version 2020-09-14) for JobKit's tests and benchmarks, started as a child process.

It speaks Plaid's wire format for the 9 endpoints of Tests/Fixtures/plaid/plaid-openapi-subset.json, validates every
request body against that OpenAPI subset (with jsonschema, pinned below), answers with the shapes of the fixture
examples (Tests/Fixtures/plaid/examples), and has a small control API under /_fake/ for the tests to set the scene.

Usage
-----
    fake-plaid.py --prepare
        Make sure the venv with jsonschema exists (scripts/test runs this while Swift builds); prints one line, exits 0.

    fake-plaid.py --port 0 [--host 127.0.0.1] [--fixtures DIR] [--client-id ID --secret S] [--enforce-limits]
                  [--reject-unknown-fields] [--verbose] [--no-parent-watch]
        Serve HTTP/1.1 (keep-alive) on the loopback. The FIRST line on stdout is exactly `LISTENING <port>` (flushed);
        nothing else is ever written to stdout. stderr stays quiet unless --verbose (one redacted line per call) or
        something breaks, so a parent that never reads the pipes cannot block the fake.
        --fixtures   the directory holding plaid-openapi-subset.json and examples/ (default: Tests/Fixtures/plaid
                     of this repo, i.e. ../../Tests/Fixtures/plaid from this script).
        --client-id / --secret   the credentials the fake accepts (default: the ones in the fixture request examples,
                     5f3c0ffee0ddba11c0ffee01 / sandbox_secret_0123456789abcdef0123456789). They are read from the
                     body (client_id, secret) or, as Plaid allows, from the headers PLAID-CLIENT-ID / PLAID-SECRET.
        --enforce-limits   Plaid's production rate limits (sliding 60 s window, only answered calls count):
                     per Item /transactions/sync 50, /accounts/balance/get 5, /accounts/get 15, /item/get 15; per
                     client /transactions/sync 2,500. Excess → HTTP 429 TRANSACTIONS_SYNC_LIMIT / BALANCE_LIMIT /
                     ACCOUNTS_LIMIT / ITEM_GET_LIMIT (error_type RATE_LIMIT_EXCEEDED). Without the flag: no limits.
        --reject-unknown-fields   the spec leaves request objects open (no additionalProperties), so by default an
                     unknown request field passes, as the spec says; real Plaid answers 400 UNKNOWN_FIELDS. With this
                     flag the fake does too (objects that do not say become additionalProperties: false).
        Exits 0 on SIGTERM or SIGINT, and by itself when its parent process dies (unless --no-parent-watch).

jsonschema (pinned, JSONSCHEMA_VERSION) lives in a venv at $JOBKIT_FAKE_PLAID_VENV (default .build/fake-plaid-venv of
this repo), made from PyPI on first use; the script re-executes itself with the venv's python.

Plaid API (every endpoint: POST, JSON)
--------------------------------------
Every request must have `Content-Type: application/json` and `Plaid-Version: 2020-09-14`, a JSON body valid against
paths[path].post.requestBody of the spec (OAS 3.0 converted to JSON Schema 2020-12: `nullable` allows null, also for
allOf/$ref-only schemas; boolean exclusiveMinimum/Maximum become numeric; additionalProperties as the spec says;
`format` is not enforced) and the configured client_id + secret. Otherwise: HTTP 400 PlaidError, error_type
INVALID_REQUEST, error_code MISSING_FIELDS (a required field is missing), INVALID_FIELD (anything else the schema
rejects; the message names the JSON path, e.g. `$.count`), UNKNOWN_FIELDS (only with --reject-unknown-fields),
INVALID_HEADERS (Content-Type / Plaid-Version) or INVALID_BODY (not JSON); a POST to a path that is not one of the 9
→ 404 NOT_FOUND, another method → 405; wrong credentials → 400 INVALID_API_KEYS (error_type INVALID_INPUT), none at
all → MISSING_FIELDS. Every such refusal is also appended to the violations list (GET /_fake/violations), with the
values of `secret`, `access_token` and `public_token` replaced by "***" (they are never echoed into messages or logs).

Errors are bare PlaidError objects: error_type, error_code, error_code_reason, error_message, display_message,
request_id (fresh per response), causes, status, documentation_url, suggested_action. Bodies come from
examples/error.<name>.json when one exists (ITEM_LOGIN_REQUIRED 400, TRANSACTIONS_SYNC_LIMIT 429, BALANCE_LIMIT 429,
TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION 400, INSTITUTION_DOWN 400, INVALID_WEBHOOK_VERIFICATION_KEY_ID 400);
the others are built in the same shape (see ERRORS below: INTERNAL_SERVER_ERROR 500 API_ERROR, INVALID_ACCESS_TOKEN,
RATE_LIMIT_EXCEEDED 429, ACCOUNTS_LIMIT, ITEM_GET_LIMIT, PRODUCT_NOT_READY, ...).

  /sandbox/public_token/create   → {public_token: public-sandbox-<uuid4>, request_id}. The first one after start or
                                   reset is the fixture's public token (so the fixture exchange request works as is).
  /item/public_token/exchange    → a new Item {access_token: access-sandbox-<uuid4>, item_id, request_id}. Unknown or
                                   already used public token → 400 INVALID_PUBLIC_TOKEN. The FIRST Item (after start or
                                   reset) gets exactly the fixture ids: item_id, the 3 account ids, the transaction ids,
                                   and the fixture access token. Item n ≥ 2 gets the fixture ids with their last 6
                                   characters replaced by n zero-padded to 6 digits (item, accounts,
                                   persistent_account_id, transactions alike), so two tenants' Items never share ids.
  /accounts/get, /accounts/balance/get → the fixture shapes with this Item's accounts and current balances
                                   (options.account_ids filters; an unknown id → 400 INVALID_ACCOUNT_ID; the balance
                                   endpoint adds balances.last_updated_datetime = now).
  /item/get                      → the fixture (or item_get.response.login_required.json's shape while the Item is in
                                   ITEM_LOGIN_REQUIRED).
  /item/webhook/update           → the fixture shape with the new webhook (null clears it).
  /institutions/get_by_id        → the fixture institution (ins_109508; another institution an Item was created for
                                   gets the same shape with its id); anything else → 400 INVALID_INSTITUTION.
  /webhook_verification_key/get  → the fixture key for the fixture kid, keys added with POST /_fake/keys by their kid;
                                   an unknown kid → 400 INVALID_WEBHOOK_VERIFICATION_KEY_ID (the fixture error).
  /transactions/sync             → see below.
An unknown access token → 400 INVALID_ACCESS_TOKEN. While an Item is in ITEM_LOGIN_REQUIRED, /accounts/get,
/accounts/balance/get and /transactions/sync answer the fixture ITEM_LOGIN_REQUIRED error (400); /item/get answers 200
with item.error set, /item/webhook/update still works (as at Plaid).

/transactions/sync: each Item has a changelog of events (added transaction / modified transaction / removed id), each
with a sequence number; every transaction's JSON is encoded once when it enters the changelog and pages are joined from
those bytes. The cursor is opaque: base64url("<item_id>:<seq>") (≤ 256 chars). A sync from cursor c (absent or "" =
from the start; "now" = the current head) returns the events after c, at most `count` of them (default 100; the
schema rejects 0 and > 500), split into added / modified / removed ({transaction_id, account_id}); within one page
events on the same transaction are folded (added then modified → added with the new data; then removed → only
removed). Plus accounts (all of the Item's), next_cursor (= the last event returned, or c), has_more,
transactions_update_status HISTORICAL_UPDATE_COMPLETE, request_id. A cursor of another Item, one that does not decode,
or one beyond the head → 400 INVALID_FIELD. options.account_id filters the stream (unknown → 400 INVALID_ACCOUNT_ID).
The first Item also accepts the fixture's three cursors (page1 / page2 / incremental next_cursor) as aliases of
positions 2, 3 and 6. A new Item's dataset is the fixture story: page1.added + page2.added (3 transactions, seq 1-3),
so syncs with count=2 return exactly the fixture pages' transactions; the incremental changes (1 added, 1 modified,
1 removed) are appended only by POST /_fake/items/<id>/advance. TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION happens
only when injected.

Control API (JSON in and out, under /_fake/, no auth; errors are {"error": "..."} with 400/404/500)
---------------------------------------------------------------------------------------------------
  POST /_fake/reset                                  forget everything (items, tokens, calls, violations, injections,
                                                     added keys, rate-limit windows); → {"ok": true}
  POST /_fake/items/<item_id>/transactions {"count": N, "seed": S}
        replace the Item's changelog with N synthetic "added" transactions (0 ≤ N ≤ 1,000,000; seed default 0; the
        same seed gives the same data) derived from the fixture transaction template: transaction ids unique per Item
        ("syn" + item number + serial), spread over the Item's accounts, amounts in whole cents, varied names,
        merchants and personal_finance_category (the fixture's plus a few others, one with non-ASCII text), dates over
        the last 2 years in ascending order, ~2% pending (dated within the last 5 days). One generated transaction per
        kind is validated against the spec's Transaction schema first (→ 500 when invalid). Sequence numbers go on
        from the old head, so an old cursor sees the new transactions as added. → {"count": N}
  POST /_fake/items/<item_id>/advance [{"added": K, "modified": M, "removed": R}]
        no body / {}: the first time on an Item still holding the fixture story, append the fixture incremental changes
        (mapped to this Item's ids); otherwise the same as {"added": 1, "modified": 1, "removed": 1}. With a body:
        append K synthetic added transactions, then modify the M oldest live ones (amount + 1.00) and remove the R
        oldest live ones after those. → {"added": a, "modified": m, "removed": r, "transactions": live count}
  POST /_fake/items/<item_id>/balances {"account_id": ..., "current": 123.45, "available": ..., "limit": ...}
        set the given balance fields (absent keys stay; null is allowed) → {"ok": true}
  POST /_fake/items/<item_id>/login_required {"on": true|false}   (default true) → {"ok": true}
  POST /_fake/items/<item_id>/fire_webhook {"webhook_code": "SYNC_UPDATES_AVAILABLE" | "PENDING_EXPIRATION" | "ERROR"}
        what Plaid's /sandbox/item/fire_webhook does: builds the webhook (TRANSACTIONS SYNC_UPDATES_AVAILABLE; ITEM
        PENDING_EXPIRATION with consent_expiration_time in 7 days; ITEM ERROR with the ITEM_LOGIN_REQUIRED error),
        signs it as Plaid does (a `Plaid-Verification` ES256 JWT with kid, iat and request_body_sha256, made with the
        fixture's test-only key from webhook_signing/, whose public half /webhook_verification_key/get serves) and
        POSTs it to the Item's webhook URL (set at link with options.webhook, or by /item/webhook/update). The POST
        is made outside the fake's lock, so the receiver may call the fake back. → {"status": <receiver's HTTP
        status>, "body": <its answer, parsed when JSON>}; 400 when the Item has no webhook URL.
  POST /_fake/inject {"endpoint": "/transactions/sync", "item_id": optional, "error": "<ERROR_CODE>" | null,
                      "delay_ms": optional, "after_calls": K (default 0), "times": T (default 1),
                      "not_ready": optional bool, "status": optional int, "error_type": optional str}
        The (K+1)-th … (K+T)-th calls matching endpoint (+ item_id) after this injection — counted among calls that
        passed validation and authentication — are delayed by delay_ms, then fail with that error (or, with not_ready,
        answer the not_ready fixture shape: NOT_READY, next_cursor ""). times 0 = for ever. An error code the fake
        does not know needs "status" and "error_type" (else 400). Injecting TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION
        also appends one synthetic added transaction to the Item's changelog each time it fires (data really changed).
        Injections are checked before rate limits and login_required; the first firing rule with an error wins.
        An unknown item_id → 404. → {"id": n}
  POST /_fake/keys {"jwk": {...}}  add a webhook verification key, returned by its kid. Private members (d, ...) are
        dropped; alg ES256, use sig, created_at now and expired_at null are filled in when missing. → {"kid": ...}
  GET  /_fake/calls[?item_id=..&endpoint=..]  [{"endpoint", "item_id", "at_ms", "status", "error_code",
        "duration_ms"}] for every Plaid call in order (item_id from the access_token when it resolves, the new Item's
        for an exchange, else null; at_ms = Unix time in ms of the request; error_code null on success; duration_ms =
        time inside the fake until the answer is ready to be written, injected delays included). A call is recorded
        before its answer is sent.
  GET  /_fake/violations           [{"endpoint", "error_code", "errors": [...], "body": <redacted body or null>}]
  GET  /_fake/items                [{"item_id", "access_token", "transactions": <live transactions>, "account_ids",
                                     "login_required", "webhook", "events": <changelog length>}]
  GET  /_fake/health               {"ok": true}
"""
import argparse
import base64
import binascii
import collections
import copy
import datetime
import hashlib
import http.client
import json
import os
import random
import secrets
import string
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeserver  # noqa: E402  (scripts/fakes/fakeserver.py)
import pyvenv  # noqa: E402  (scripts/lib/pyvenv.py)

JSONSCHEMA_VERSION = "4.23.0"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
VENV_ENV = "JOBKIT_FAKE_PLAID_VENV"
VENV_DEFAULT = os.path.join(REPO, ".build", "fake-plaid-venv")
VENV_MARK = "JOBKIT_FAKE_PLAID_IN_VENV"
PLAID_VERSION = "2020-09-14"
SPEC_URI = "urn:jobkit:plaid-openapi-subset"
REDACTED_KEYS = frozenset({"secret", "access_token", "public_token"})
ITEM_ENDPOINTS = ("/accounts/get", "/accounts/balance/get", "/transactions/sync", "/item/get", "/item/webhook/update")
LOGIN_BLOCKED = ("/accounts/get", "/accounts/balance/get", "/transactions/sync")
MAX_SYNTHETIC = 1_000_000


# --- ES256 (webhook signing) -----------------------------------------------------------------------------------------
# Plain P-256 ECDSA for the fixture's TEST-ONLY key (no third-party crypto in the fake): affine arithmetic, a fresh
# random nonce per signature. Slow (a few ms) and not constant time, which is fine for a fake signing test data.

P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
          0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _p256_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P256_P == 0:
        return None
    if a == b:
        m = (3 * a[0] * a[0] - 3) * pow(2 * a[1], -1, P256_P) % P256_P
    else:
        m = (b[1] - a[1]) * pow(b[0] - a[0], -1, P256_P) % P256_P
    x = (m * m - a[0] - b[0]) % P256_P
    return x, (m * (a[0] - x) - a[1]) % P256_P


def _p256_mul(k, point):
    result = None
    while k:
        if k & 1:
            result = _p256_add(result, point)
        point = _p256_add(point, point)
        k >>= 1
    return result


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(text):
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


class WebhookSigner:
    """Signs webhook bodies as Plaid does, with the JWK at `path` (private member d; x, y checked against d)."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            jwk = json.load(f)
        self.kid = jwk["kid"]
        self.d = _b64url_int(jwk["d"])
        if _p256_mul(self.d, P256_G) != (_b64url_int(jwk["x"]), _b64url_int(jwk["y"])):
            raise ValueError(f"{path}: d does not match x, y")

    def sign(self, body, iat):
        header = _b64url(json.dumps({"alg": "ES256", "kid": self.kid, "typ": "JWT"}, separators=(",", ":")).encode())
        claims = _b64url(json.dumps({"iat": iat, "request_body_sha256": hashlib.sha256(body).hexdigest()},
                                    separators=(",", ":")).encode())
        signing_input = f"{header}.{claims}".encode("ascii")
        z = int.from_bytes(hashlib.sha256(signing_input).digest(), "big")
        while True:
            k = secrets.randbelow(P256_N - 1) + 1
            r = _p256_mul(k, P256_G)[0] % P256_N
            if r == 0:
                continue
            s_ = pow(k, -1, P256_N) * (z + r * self.d) % P256_N
            if s_ != 0:
                break
        return f"{header}.{claims}.{_b64url(r.to_bytes(32, 'big') + s_.to_bytes(32, 'big'))}"


# --- venv -------------------------------------------------------------------------------------------------------------

def ensure_venv(script, argv):
    """Re-executes `script argv` with the venv's python (made and filled on first use) unless already running there
    with jsonschema==JSONSCHEMA_VERSION importable; returns the venv's path. Used by this script and by
    test-fake-plaid.py."""
    return pyvenv.ensure("jsonschema", JSONSCHEMA_VERSION, VENV_ENV, VENV_DEFAULT, VENV_MARK, prog="fake-plaid",
                         script=script, argv=argv)


# --- OpenAPI 3.0 → JSON Schema 2020-12 ----------------------------------------------------------------------------------

_DROP = frozenset({"nullable", "description", "example", "examples", "x-examples", "externalDocs", "discriminator", "xml"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_LITERALS = frozenset({"enum", "const", "default", "required"})


def oas_to_json_schema(node, ref_base="", closed=False):
    """One OAS 3.0 schema object → JSON Schema 2020-12. `ref_base` is put in front of local refs ("#/..."); `closed`
    adds additionalProperties: false to objects that do not say (--reject-unknown-fields)."""
    if isinstance(node, list):
        return [oas_to_json_schema(x, ref_base, closed) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: oas_to_json_schema(sub, ref_base, closed) for name, sub in value.items()}
        elif key in _LITERALS:
            out[key] = copy.deepcopy(value)
        elif key == "$ref" and isinstance(value, str):
            out[key] = ref_base + value if value.startswith("#") else value
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:  # OAS 3.0 / draft 4: a flag on minimum/maximum; 2020-12: the bound itself
                out[key] = node[bound]
        else:
            out[key] = oas_to_json_schema(value, ref_base, closed)
    if closed and "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if node.get(key) is True:
            out.pop("minimum" if key == "exclusiveMinimum" else "maximum", None)
    if node.get("nullable") is True:
        has_composition = any(k in out for k in ("$ref", "allOf", "anyOf", "oneOf", "not"))
        if "type" in out and not has_composition:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = types + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
        else:  # allOf / $ref without type (ItemStatusNullable): null or the schema
            out = {"anyOf": [{"type": "null"}, out]}
    return out


class Spec:
    """The OpenAPI subset as jsonschema validators (refs resolved through a referencing registry holding the spec)."""

    def __init__(self, path, reject_unknown_fields=False):
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        with open(path, encoding="utf-8") as f:
            self.raw = json.load(f)
        self.document = {"components": {"schemas": {name: oas_to_json_schema(schema)
                                                     for name, schema in self.raw["components"]["schemas"].items()}}}
        self.registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(self.document))
        self._cls = Draft202012Validator
        # Request bodies: as the spec says (it leaves additionalProperties open), or closed where the spec is silent.
        request_registry = self.registry
        if reject_unknown_fields:
            closed = {"components": {"schemas": {name: oas_to_json_schema(schema, closed=True)
                                                 for name, schema in self.raw["components"]["schemas"].items()}}}
            request_registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(closed))
        self.requests = {}
        for path_name, item in self.raw["paths"].items():
            schema = item["post"]["requestBody"]["content"]["application/json"]["schema"]
            self.requests[path_name] = self._cls(oas_to_json_schema(schema, SPEC_URI, reject_unknown_fields),
                                                 registry=request_registry)

    def validator(self, oas_schema):
        return self._cls(oas_to_json_schema(oas_schema, SPEC_URI), registry=self.registry)

    def component(self, name):
        return self._cls({"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=self.registry)

    def response(self, path_name, status="200"):
        responses = self.raw["paths"][path_name]["post"]["responses"]
        entry = responses.get(str(status)) or responses["default"]
        return self.validator(entry["content"]["application/json"]["schema"])


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def describe_errors(validator, body):
    """→ (error_code, [messages]) or None. Messages name the JSON path and never contain a secret."""
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    messages, missing, unknown = [], False, False
    for err in errors:
        path = err.json_path
        redacted = any(str(p) in REDACTED_KEYS for p in err.absolute_path)
        scalar = isinstance(err.instance, (str, int, float, bool)) or err.instance is None
        if err.validator == "required":
            missing = True
            for field in err.validator_value:
                if isinstance(err.instance, dict) and field not in err.instance:
                    messages.append(f"{path}.{field}: required field is missing")
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            unknown = True
            allowed = set(err.schema.get("properties", {}))
            for field in err.instance:
                if field not in allowed:
                    messages.append(f"{path}.{field}: unknown field")
        elif err.validator == "type":
            messages.append(f"{path}: expected {err.validator_value}, got {_json_type(err.instance)}")
        elif redacted or not scalar:
            messages.append(f"{path}: does not satisfy '{err.validator}' ({json.dumps(err.validator_value)[:200]})")
        else:
            messages.append(f"{path}: {err.message}")
    return ("MISSING_FIELDS" if missing else "UNKNOWN_FIELDS" if unknown else "INVALID_FIELD"), messages


def redact(value):
    if isinstance(value, dict):
        return {k: ("***" if k in REDACTED_KEYS and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# --- errors ---------------------------------------------------------------------------------------------------------

def _err(error_type, status, message, display=None):
    return {"error_type": error_type, "status": status, "error_message": message, "display_message": display}


ERRORS = {  # built in the fixture errors' shape; examples/error.*.json override these by error_code
    "INTERNAL_SERVER_ERROR": _err("API_ERROR", 500, "an unexpected error occurred",
                                  "Something went wrong. Please try again later."),
    "PLANNED_MAINTENANCE": _err("API_ERROR", 503, "the Plaid API is temporarily unavailable due to planned maintenance",
                                "This service is temporarily unavailable. Please try again later."),
    "INVALID_ACCESS_TOKEN": _err("INVALID_INPUT", 400, "provided access token is not valid or does not exist"),
    "INVALID_API_KEYS": _err("INVALID_INPUT", 400, "invalid client_id or secret provided"),
    "INVALID_PUBLIC_TOKEN": _err("INVALID_INPUT", 400, "provided public token is expired, already used or does not exist"),
    "INVALID_ACCOUNT_ID": _err("INVALID_INPUT", 400, "one or more of the account IDs is invalid"),
    "INVALID_INSTITUTION": _err("INVALID_INPUT", 400, "invalid institution_id provided"),
    "RATE_LIMIT_EXCEEDED": _err("RATE_LIMIT_EXCEEDED", 429, "rate limit exceeded. please try again later"),
    "ACCOUNTS_LIMIT": _err("RATE_LIMIT_EXCEEDED", 429,
                           "rate limit exceeded for attempts to access this item. please try again later"),
    "ITEM_GET_LIMIT": _err("RATE_LIMIT_EXCEEDED", 429,
                           "rate limit exceeded for attempts to access this item. please try again later"),
    "ACCOUNTS_BALANCE_GET_LIMIT": _err("RATE_LIMIT_EXCEEDED", 429,
                                       "rate limit exceeded for attempts to access this item. please try again later"),
    "INSTITUTION_NOT_RESPONDING": _err("INSTITUTION_ERROR", 400,
                                       "this institution is not currently responding to this request. please try again soon",
                                       "This financial institution is not currently responding to requests."),
    "PRODUCT_NOT_READY": _err("ITEM_ERROR", 400, "the requested product is not yet ready. please provide a webhook or "
                              "try the request again later"),
    "MISSING_FIELDS": _err("INVALID_REQUEST", 400, "the following required fields are missing"),
    "INVALID_FIELD": _err("INVALID_REQUEST", 400, "a field has an invalid value"),
    "UNKNOWN_FIELDS": _err("INVALID_REQUEST", 400, "the following fields are not recognized by this endpoint"),
    "INVALID_BODY": _err("INVALID_REQUEST", 400, "body could not be parsed as JSON"),
    "INVALID_HEADERS": _err("INVALID_REQUEST", 400, "some request headers are missing or have invalid values"),
    "NOT_FOUND": _err("INVALID_REQUEST", 404, "not found"),
}
LIMITS = {  # endpoint → (per Item per minute, error_code); per client: /transactions/sync 2,500
    "/transactions/sync": (50, "TRANSACTIONS_SYNC_LIMIT"),
    "/accounts/balance/get": (5, "BALANCE_LIMIT"),
    "/accounts/get": (15, "ACCOUNTS_LIMIT"),
    "/item/get": (15, "ITEM_GET_LIMIT"),
}
CLIENT_LIMITS = {"/transactions/sync": (2500, "TRANSACTIONS_SYNC_LIMIT")}

_ALNUM = string.ascii_letters + string.digits


def request_id():
    return "".join(random.choices(_ALNUM, k=15))


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlaidFailure(Exception):
    """Raised by handlers: answered as a PlaidError."""

    def __init__(self, code, message=None, violation=None):
        super().__init__(code)
        self.code, self.message, self.violation = code, message, violation


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- fixtures -------------------------------------------------------------------------------------------------------

class Fixtures:
    def __init__(self, root):
        self.root = root
        ex = os.path.join(root, "examples")

        def load(name):
            with open(os.path.join(ex, name), encoding="utf-8") as f:
                return json.load(f)
        self.load = load
        self.create_req = load("sandbox_public_token_create.request.json")
        self.public_token = load("sandbox_public_token_create.response.json")["public_token"]
        self.exchange = load("item_public_token_exchange.response.json")
        self.accounts_get = load("accounts_get.response.json")
        self.balance_get = load("accounts_balance_get.response.json")
        self.item_get = load("item_get.response.json")
        self.item_get_login = load("item_get.response.login_required.json")
        self.webhook_update = load("item_webhook_update.response.json")
        self.institution = load("institutions_get_by_id.response.json")
        self.key = load("webhook_verification_key_get.response.json")["key"]
        self.page1 = load("transactions_sync.response.page1.json")
        self.page2 = load("transactions_sync.response.page2.json")
        self.incremental = load("transactions_sync.response.incremental.json")
        self.not_ready = load("transactions_sync.response.not_ready.json")
        self.client_id = self.create_req["client_id"]
        self.secret = self.create_req["secret"]
        self.errors = {}
        for name in sorted(os.listdir(ex)):
            if name.startswith("error.") and name.endswith(".json"):
                body = load(name)
                self.errors[body["error_code"]] = body
        # Fixture ids that get derived for items n ≥ 2 (and the cursors that alias positions of the first Item).
        ids = {self.exchange["item_id"]}
        for acc in self.accounts_get["accounts"]:
            ids.add(acc["account_id"])
            if acc.get("persistent_account_id"):
                ids.add(acc["persistent_account_id"])
        for page in (self.page1, self.page2, self.incremental):
            for section in ("added", "modified", "removed"):
                for txn in page[section]:
                    ids.add(txn["transaction_id"])
                    if txn.get("pending_transaction_id"):
                        ids.add(txn["pending_transaction_id"])
        self.ids = ids
        self.cursor_aliases = {self.page1["next_cursor"]: 2, self.page2["next_cursor"]: 3,
                               self.incremental["next_cursor"]: 6}
        self.template = self.page1["added"][0]

    def error_body(self, code, message=None, status=None, error_type=None):
        if code in self.errors:
            body = copy.deepcopy(self.errors[code])
        elif code in ERRORS or (status and error_type):
            base = ERRORS.get(code) or _err(error_type, status, code.lower().replace("_", " "))
            body = {"error_type": base["error_type"], "error_code": code, "error_code_reason": None,
                    "error_message": base["error_message"], "display_message": base["display_message"],
                    "request_id": "", "causes": [], "status": base["status"],
                    "documentation_url": "https://plaid.com/docs/errors/", "suggested_action": None}
        else:
            raise KeyError(code)
        if message:
            body["error_message"] = message
        if status:
            body["status"] = status
        if error_type:
            body["error_type"] = error_type
        body["request_id"] = request_id()
        return body["status"], body


def map_ids(value, mapping):
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {k: map_ids(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [map_ids(v, mapping) for v in value]
    return value


# --- synthetic transactions -----------------------------------------------------------------------------------------

_EMPTY_LOCATION = {"address": None, "city": None, "region": None, "postal_code": None, "country": None,
                   "lat": None, "lon": None, "store_number": None}

# (name, merchant_name, pfc primary, pfc detailed, payment_channel, cents lo, cents hi, sign, account indexes, location,
#  with datetime). Amounts: positive = money out of the account (Plaid's convention).
PROFILES = [
    ("PURCHASE WM SUPERCENTER #1700", "Walmart", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_SUPERSTORES", "in store",
     500, 25000, 1, (0, 2), "fixture", False),
    ("ACME CORP PAYROLL", None, "INCOME", "INCOME_WAGES", "other", 100000, 320000, -1, (0,), None, False),
    ("DD DOORDASH BURGERKIN", "Burger King", "FOOD_AND_DRINK", "FOOD_AND_DRINK_FAST_FOOD", "online",
     800, 4500, 1, (2, 0), None, False),
    ("STARBUCKS STORE 08812", "Starbucks", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE", "in store", 325, 1575, 1, (2, 0),
     {"address": "1912 Pike Pl", "city": "Seattle", "region": "WA", "postal_code": "98101", "country": "US",
      "lat": 47.610135, "lon": -122.342537, "store_number": "8812"}, True),
    ("UBER *TRIP HELP.UBER.COM", "Uber", "TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", "online",
     700, 6400, 1, (2,), None, True),
    ("NETFLIX.COM", "Netflix", "ENTERTAINMENT", "ENTERTAINMENT_TV_AND_MOVIES", "online", 999, 2299, 1, (2,), None, False),
    ("SHELL OIL 57444", "Shell", "TRANSPORTATION", "TRANSPORTATION_GAS", "in store", 2000, 9000, 1, (2, 0), None, False),
    ("WHOLEFDS MKT 10234", "Whole Foods Market", "FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES", "in store",
     1000, 22000, 1, (0, 2), None, False),
    ("ACH DEBIT OAKWOOD PROPERTY MGMT RENT", "Oakwood Property Management", "RENT_AND_UTILITIES",
     "RENT_AND_UTILITIES_RENT", "other", 120000, 260000, 1, (0,), None, False),
    ("ONLINE TRANSFER TO SAVINGS XXXXXX1111", None, "TRANSFER_OUT", "TRANSFER_OUT_SAVINGS", "other",
     5000, 50000, 1, (0,), None, False),
    ("INTEREST EARNED", None, "INCOME", "INCOME_INTEREST_EARNED", "other", 1, 500, -1, (1,), None, False),
    ("CAFÉ ÇA VA — PARIS 11E", "Café Ça Va", "FOOD_AND_DRINK", "FOOD_AND_DRINK_RESTAURANT", "in store",
     1200, 8800, 1, (2,), None, False),
]
_WEIGHTS = [14, 3, 10, 12, 8, 3, 6, 10, 1, 2, 2, 4]


class Synthetic:
    def __init__(self, fixtures):
        self.template = fixtures.template
        self.kinds = []
        for (name, merchant, primary, detailed, channel, lo, hi, sign, accounts, location, with_dt) in PROFILES:
            counterparties = [] if merchant is None else [
                {"name": merchant, "type": "merchant", "website": None, "logo_url": None, "entity_id": None,
                 "confidence_level": "HIGH"}]
            if location == "fixture":
                location = self.template["location"]
            self.kinds.append({
                "name": name, "merchant_name": merchant, "payment_channel": channel, "lo": lo, "hi": hi,
                "sign": sign, "accounts": accounts, "location": location or _EMPTY_LOCATION, "with_dt": with_dt,
                "pfc": {"primary": primary, "detailed": detailed, "confidence_level": "VERY_HIGH"},
                "icon": f"https://plaid-category-icons.plaid.com/PFC_{primary}.png",
                "counterparties": counterparties})

    def generate(self, rng, count, account_ids, first_serial, id_prefix, today):
        """→ list of (kind index, transaction dict) in ascending date order."""
        rows = []
        kinds = rng.choices(range(len(self.kinds)), weights=_WEIGHTS, k=count)
        for i, k in enumerate(kinds):
            pending = rng.random() < 0.02
            age = rng.randint(0, 4) if pending else rng.randint(0, 729)
            rows.append((age, i, k, pending))
        rows.sort(key=lambda r: (-r[0], r[1]))
        out = []
        t = self.template
        for serial, (age, _, k, pending) in enumerate(rows, start=first_serial):
            kind = self.kinds[k]
            day = today - datetime.timedelta(days=age)
            auth_day = day - datetime.timedelta(days=0 if pending else rng.choice((0, 0, 0, 1, 2)))
            account = account_ids[rng.choice(kind["accounts"]) % len(account_ids)]
            cents = rng.randint(kind["lo"], kind["hi"]) * kind["sign"]
            txn = dict(t)
            txn["account_id"] = account
            txn["amount"] = cents / 100
            txn["date"] = day.isoformat()
            txn["authorized_date"] = auth_day.isoformat()
            if kind["with_dt"]:
                stamp = f"{day.isoformat()}T{rng.randint(6, 22):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
                txn["datetime"] = stamp
                txn["authorized_datetime"] = stamp
            else:
                txn["datetime"] = None
                txn["authorized_datetime"] = None
            txn["location"] = kind["location"]
            txn["name"] = kind["name"]
            txn["merchant_name"] = kind["merchant_name"]
            txn["payment_channel"] = kind["payment_channel"]
            txn["pending"] = pending
            txn["pending_transaction_id"] = None
            txn["transaction_id"] = f"{id_prefix}{serial:027d}"
            txn["personal_finance_category"] = kind["pfc"]
            txn["personal_finance_category_icon_url"] = kind["icon"]
            txn["counterparties"] = kind["counterparties"]
            out.append((k, txn))
        return out


# --- state ----------------------------------------------------------------------------------------------------------

class Item:
    def __init__(self, number, item_id, access_token, accounts, webhook, institution_id, institution_name, mapping):
        self.number = number
        self.item_id = item_id
        self.access_token = access_token
        self.accounts = accounts
        self.account_ids = [a["account_id"] for a in accounts]
        self.webhook = webhook
        self.institution_id = institution_id
        self.institution_name = institution_name
        self.mapping = mapping
        self.login_required = False
        self.events = []  # (kind 'a'|'m'|'r', transaction_id, account_id, bytes); seq = base + index
        self.base = 1
        self.live = {}  # transaction_id → index of its latest added/modified event (insertion order = age)
        self.fixture_story = True
        self.fixture_incremental_done = False
        self.serial = 0  # synthetic transaction ids

    @property
    def head(self):
        return self.base + len(self.events) - 1

    def append(self, kind, txn_id, account_id, data):
        self.events.append((kind, txn_id, account_id, data))
        if kind == "r":
            self.live.pop(txn_id, None)
        else:
            self.live[txn_id] = len(self.events) - 1

    def add_txn(self, txn, kind="a"):
        self.append(kind, txn["transaction_id"], txn["account_id"], dumps(txn))

    def remove_txn(self, txn_id, account_id):
        self.append("r", txn_id, account_id, dumps({"transaction_id": txn_id, "account_id": account_id}))

    def cursor(self, seq):
        return base64.urlsafe_b64encode(f"{self.item_id}:{seq}".encode()).decode().rstrip("=")


class Limiter:
    def __init__(self):
        self.windows = collections.defaultdict(collections.deque)

    def allow(self, keys_limits, now):
        for key, limit in keys_limits:
            window = self.windows[key]
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= limit:
                return key
        for key, _ in keys_limits:
            self.windows[key].append(now)
        return None


class Fake:
    def __init__(self, fixtures, spec, client_id, secret, enforce_limits, verbose):
        self.fx = fixtures
        self.signer = WebhookSigner(os.path.join(fixtures.root, "webhook_signing", "test-only-signing-key.jwk.json"))
        self.spec = spec
        self.client_id = client_id
        self.secret = secret
        self.enforce_limits = enforce_limits
        self.verbose = verbose
        self.synthetic = Synthetic(fixtures)
        self.transaction_validator = spec.component("Transaction")
        self.jwk_validator = spec.component("JWKPublicKey")
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.items = {}  # item_id → Item
        self.by_token = {}  # access_token → Item
        self.public_tokens = {}  # token → {"institution_id", "webhook", "used"}
        self.public_count = 0
        self.item_count = 0
        self.calls = []
        self.violations = []
        self.injections = []
        self.keys = {self.fx.key["kid"]: self.fx.key}
        self.limiter = Limiter()

    # -- Plaid endpoints (called with the lock held) --

    def item_for(self, body):
        item = self.by_token.get(body.get("access_token"))
        if item is None:
            raise PlaidFailure("INVALID_ACCESS_TOKEN")
        return item

    def item_object(self, item, template):
        obj = dict(template)
        obj["item_id"] = item.item_id
        obj["institution_id"] = item.institution_id
        obj["institution_name"] = item.institution_name
        obj["webhook"] = item.webhook
        obj["error"] = copy.deepcopy(self.fx.errors["ITEM_LOGIN_REQUIRED"]) if item.login_required else None
        return obj

    def selected_accounts(self, item, body, with_updated=False):
        wanted = (body.get("options") or {}).get("account_ids")
        if wanted is not None:
            unknown = [a for a in wanted if a not in item.account_ids]
            if unknown:
                raise PlaidFailure("INVALID_ACCOUNT_ID")
        out = []
        for acc in item.accounts:
            if wanted is not None and acc["account_id"] not in wanted:
                continue
            acc = copy.deepcopy(acc)
            if with_updated:
                acc["balances"]["last_updated_datetime"] = now_iso()
            out.append(acc)
        return out

    def sandbox_public_token_create(self, body, item):
        self.public_count += 1
        token = self.fx.public_token if self.public_count == 1 else f"public-sandbox-{uuid.uuid4()}"
        self.public_tokens[token] = {"institution_id": body["institution_id"],
                                     "webhook": (body.get("options") or {}).get("webhook"), "used": False}
        return {"public_token": token, "request_id": request_id()}

    def item_public_token_exchange(self, body, item):
        record = self.public_tokens.get(body["public_token"])
        if record is None or record["used"]:
            raise PlaidFailure("INVALID_PUBLIC_TOKEN")
        record["used"] = True
        self.item_count += 1
        n = self.item_count
        mapping = {} if n == 1 else {fid: fid[:-6] + f"{n:06d}" for fid in self.fx.ids}
        access_token = self.fx.exchange["access_token"] if n == 1 else f"access-sandbox-{uuid.uuid4()}"
        inst = self.fx.institution["institution"]
        name = inst["name"] if record["institution_id"] == inst["institution_id"] else \
            f"Sandbox Institution {record['institution_id']}"
        item = Item(n, map_ids(self.fx.exchange["item_id"], mapping), access_token,
                    map_ids(copy.deepcopy(self.fx.accounts_get["accounts"]), mapping),
                    record["webhook"], record["institution_id"], name, mapping)
        for txn in self.fx.page1["added"] + self.fx.page2["added"]:
            item.add_txn(map_ids(txn, mapping))
        self.items[item.item_id] = item
        self.by_token[access_token] = item
        return {"access_token": access_token, "item_id": item.item_id, "request_id": request_id()}

    def accounts_get(self, body, item):
        return {"accounts": self.selected_accounts(item, body), "item": self.item_object(item, self.fx.accounts_get["item"]),
                "request_id": request_id()}

    def accounts_balance_get(self, body, item):
        return {"accounts": self.selected_accounts(item, body, with_updated=True),
                "item": self.item_object(item, self.fx.balance_get["item"]), "request_id": request_id()}

    def item_get(self, body, item):
        source = self.fx.item_get_login if item.login_required else self.fx.item_get
        return {"item": self.item_object(item, source["item"]), "status": copy.deepcopy(source["status"]),
                "request_id": request_id()}

    def item_webhook_update(self, body, item):
        item.webhook = body.get("webhook")
        return {"item": self.item_object(item, self.fx.webhook_update["item"]), "request_id": request_id()}

    def institutions_get_by_id(self, body, item):
        inst = copy.deepcopy(self.fx.institution["institution"])
        wanted = body["institution_id"]
        if wanted != inst["institution_id"]:
            known = next((i for i in self.items.values() if i.institution_id == wanted), None)
            if known is None:
                raise PlaidFailure("INVALID_INSTITUTION")
            inst["institution_id"], inst["name"] = wanted, known.institution_name
        return {"institution": inst, "request_id": request_id()}

    def webhook_verification_key_get(self, body, item):
        key = self.keys.get(body["key_id"])
        if key is None:
            raise PlaidFailure("INVALID_WEBHOOK_VERIFICATION_KEY_ID")
        return {"key": copy.deepcopy(key), "request_id": request_id()}

    def transactions_sync(self, body, item):
        """→ a list of byte pieces (joined outside the lock)."""
        count = body.get("count", 100)
        cursor = body.get("cursor")
        head = item.head
        if cursor in (None, ""):
            seq = item.base - 1
        elif cursor == "now":
            seq = head
        else:
            seq = None
            if item.number == 1 and cursor in self.fx.cursor_aliases:
                seq = self.fx.cursor_aliases[cursor]
            else:
                try:
                    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
                    owner, _, number = raw.rpartition(":")
                    if owner == item.item_id and number.isdigit():
                        seq = int(number)
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    pass
            if seq is None or seq > head or len(cursor) > 256:
                raise PlaidFailure("INVALID_FIELD", "cursor is invalid: not a cursor this server issued for this item",
                                   violation=["$.cursor: not a cursor issued for this item (or beyond its head)"])
        options = body.get("options") or {}
        account_filter = options.get("account_id")
        if account_filter is not None and account_filter not in item.account_ids:
            raise PlaidFailure("INVALID_ACCOUNT_ID")
        events = item.events
        start = max(0, seq + 1 - item.base)
        if account_filter is None:
            end = min(start + count, len(events))
            page = events[start:end]
        else:
            page, end = [], start
            while end < len(events) and len(page) < count:
                if events[end][2] == account_filter:
                    page.append(events[end])
                end += 1
            while end < len(events) and events[end][2] != account_filter:
                end += 1  # skip the tail of foreign events so has_more is exact
        has_more = end < len(events)
        next_seq = item.base + end - 1 if end > start else seq
        added, modified, removed = {}, {}, {}
        for kind, txn_id, _, data in page:
            if kind == "a":
                removed.pop(txn_id, None)
                modified.pop(txn_id, None)
                added[txn_id] = data
            elif kind == "m":
                if txn_id in added:
                    added[txn_id] = data
                else:
                    modified[txn_id] = data
            else:
                added.pop(txn_id, None)
                modified.pop(txn_id, None)
                removed[txn_id] = data
        accounts = dumps(item.accounts)
        return [b'{"transactions_update_status":"HISTORICAL_UPDATE_COMPLETE","accounts":', accounts,
                b',"added":[', b",".join(added.values()), b'],"modified":[', b",".join(modified.values()),
                b'],"removed":[', b",".join(removed.values()), b'],"next_cursor":', dumps(item.cursor(next_seq)),
                b',"has_more":', b"true" if has_more else b"false", b',"request_id":', dumps(request_id()), b"}"]

    def not_ready(self):
        body = copy.deepcopy(self.fx.not_ready)
        body["next_cursor"] = ""
        body["request_id"] = request_id()
        return body

    # -- synthetic data (lock held) --

    def add_synthetic(self, item, count, seed, validate=False):
        rng = random.Random(seed)
        rows = self.synthetic.generate(rng, count, item.account_ids, item.serial, f"syn{item.number:06d}t",
                                       datetime.date.today())
        if validate:
            seen = set()
            for kind, txn in rows:
                if kind in seen:
                    continue
                seen.add(kind)
                errors = describe_errors(self.transaction_validator, json.loads(dumps(txn)))
                if errors:
                    raise ValueError(f"generated transaction is not a valid Transaction: {errors[1]}")
        item.serial += count
        for _, txn in rows:
            item.add_txn(txn)
        item.fixture_story = False
        return count

    def modify_oldest(self, item, count, skip=0):
        done = []
        for txn_id in list(item.live)[skip:skip + count]:
            txn = json.loads(item.events[item.live[txn_id]][3])
            txn["amount"] = round(txn["amount"] + 1.0, 2)
            item.add_txn(txn, "m")
            done.append(txn_id)
        return len(done)

    def remove_oldest(self, item, count, skip=0):
        victims = [(t, item.events[i][2]) for t, i in list(item.live.items())[skip:skip + count]]
        for txn_id, account_id in victims:
            item.remove_txn(txn_id, account_id)
        return len(victims)

    def advance(self, item, body):
        if not body and item.fixture_story and not item.fixture_incremental_done:
            inc = map_ids(self.fx.incremental, item.mapping)
            for txn in inc["added"]:
                item.add_txn(txn)
            for txn in inc["modified"]:
                item.add_txn(txn, "m")
            for gone in inc["removed"]:
                item.remove_txn(gone["transaction_id"], gone["account_id"])
            item.fixture_incremental_done = True
            return {"added": len(inc["added"]), "modified": len(inc["modified"]), "removed": len(inc["removed"]),
                    "transactions": len(item.live)}
        body = body or {"added": 1, "modified": 1, "removed": 1}
        fixture_story = item.fixture_story
        added = self.add_synthetic(item, int(body.get("added", 0)), f"advance:{item.serial}")
        item.fixture_story = fixture_story and added == 0
        modified = self.modify_oldest(item, int(body.get("modified", 0)))
        removed = self.remove_oldest(item, int(body.get("removed", 0)), skip=modified)
        return {"added": added, "modified": modified, "removed": removed, "transactions": len(item.live)}


# --- HTTP -----------------------------------------------------------------------------------------------------------

class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def make_handler(fake):
    handlers = {
        "/sandbox/public_token/create": fake.sandbox_public_token_create,
        "/item/public_token/exchange": fake.item_public_token_exchange,
        "/accounts/get": fake.accounts_get,
        "/accounts/balance/get": fake.accounts_balance_get,
        "/item/get": fake.item_get,
        "/item/webhook/update": fake.item_webhook_update,
        "/institutions/get_by_id": fake.institutions_get_by_id,
        "/webhook_verification_key/get": fake.webhook_verification_key_get,
        "/transactions/sync": fake.transactions_sync,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-plaid"
        sys_version = ""
        disable_nagle_algorithm = True  # header and body are two writes; Nagle + delayed ACK would add 40 ms

        def log_message(self, fmt, *args):
            pass

        def read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def send(self, status, pieces):
            if isinstance(pieces, dict) or (isinstance(pieces, list) and not (pieces and isinstance(pieces[0], bytes))):
                pieces = [dumps(pieces)]
            length = sum(len(p) for p in pieces)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(b"".join(pieces))

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_PUT(self):
            self.route("PUT")

        def do_DELETE(self):
            self.route("DELETE")

        def route(self, method):
            url = urlsplit(self.path)
            try:
                raw = self.read_body()
            except (ValueError, OSError):
                self.close_connection = True
                return
            try:
                if url.path.startswith("/_fake/"):
                    status, body = self.control(method, url, raw)
                    self.send(status, body)
                else:
                    self.plaid(method, url.path, raw)
            except Exception as error:  # a bug in the fake: say so loudly, answer 500
                import traceback
                traceback.print_exc(file=sys.stderr)
                status, body = fake.fx.error_body("INTERNAL_SERVER_ERROR", f"fake-plaid bug: {error!r}")
                self.send(status, body)

        # -- Plaid --

        def plaid(self, method, path, raw):
            started = time.monotonic()
            at_ms = int(time.time() * 1000)
            item_id, body_obj, injected = None, None, None

            def refuse(code, messages, message=None):
                entry = {"endpoint": path, "error_code": code, "errors": messages,
                         "body": redact(body_obj) if body_obj is not None else None}
                with fake.lock:
                    fake.violations.append(entry)
                return fake.fx.error_body(code, message or "; ".join(messages))

            try:
                if path not in handlers:
                    status, body = refuse("NOT_FOUND", [f"{method} {path}: no such Plaid endpoint"])
                    return self.answer(path, item_id, at_ms, started, status, body)
                if method != "POST":
                    status, body = refuse("NOT_FOUND", [f"{method} {path}: Plaid endpoints take POST only"])
                    status = body["status"] = 405
                    return self.answer(path, item_id, at_ms, started, status, body)
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if content_type != "application/json":
                    status, body = refuse("INVALID_HEADERS", [f"Content-Type must be application/json, got "
                                                              f"{content_type or 'none'}"])
                    return self.answer(path, item_id, at_ms, started, status, body)
                version = self.headers.get("Plaid-Version")
                if version != PLAID_VERSION:
                    status, body = refuse("INVALID_HEADERS", [f"header Plaid-Version must be {PLAID_VERSION}, got "
                                                              f"{version if version is not None else 'none'}"])
                    return self.answer(path, item_id, at_ms, started, status, body)
                try:
                    body_obj = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    status, body = refuse("INVALID_BODY", ["$: body is not JSON"])
                    return self.answer(path, item_id, at_ms, started, status, body)
                problems = describe_errors(fake.spec.requests[path], body_obj)
                if problems:
                    code, messages = problems
                    if code == "MISSING_FIELDS":
                        missing = [m.split(":")[0] for m in messages if m.endswith("required field is missing")]
                        message = "the following required fields are missing: " + ", ".join(missing)
                        if len(missing) < len(messages):
                            message += "; " + "; ".join(m for m in messages if not m.endswith("is missing"))
                    else:
                        message = "; ".join(messages)
                    status, body = refuse(code, messages, message)
                    return self.answer(path, item_id, at_ms, started, status, body)
                client_id = body_obj.get("client_id", self.headers.get("PLAID-CLIENT-ID"))
                secret = body_obj.get("secret", self.headers.get("PLAID-SECRET"))
                if client_id is None or secret is None:
                    missing = [n for n, v in (("client_id", client_id), ("secret", secret)) if v is None]
                    status, body = refuse("MISSING_FIELDS", [f"$.{n}: required field is missing (body or "
                                                             f"PLAID-{n.upper().replace('_', '-')} header)"
                                                             for n in missing],
                                          "the following required fields are missing: " + ", ".join(missing))
                    return self.answer(path, item_id, at_ms, started, status, body)
                if client_id != fake.client_id or secret != fake.secret:
                    status, body = refuse("INVALID_API_KEYS", ["client_id/secret do not match the fake's"],
                                          ERRORS["INVALID_API_KEYS"]["error_message"])
                    return self.answer(path, item_id, at_ms, started, status, body)

                delay, pieces = 0.0, None
                with fake.lock:
                    item = None
                    if path in ITEM_ENDPOINTS:
                        item = fake.by_token.get(body_obj.get("access_token"))
                        if item is None:
                            raise PlaidFailure("INVALID_ACCESS_TOKEN")
                        item_id = item.item_id
                    for rule in fake.injections:
                        if rule["endpoint"] != path or (rule["item_id"] is not None and rule["item_id"] != item_id):
                            continue
                        rule["seen"] += 1
                        k, t = rule["after_calls"], rule["times"]
                        if rule["seen"] <= k or (t and rule["seen"] > k + t):
                            continue
                        delay = max(delay, rule["delay_ms"] / 1000.0)
                        if injected is None and (rule["error"] or rule["not_ready"]):
                            injected = rule
                    if injected is not None and injected["error"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION" \
                            and item is not None:
                        story = item.fixture_story
                        fake.add_synthetic(item, 1, f"mutation:{item.serial}")
                        item.fixture_story = story
                    if injected is None:
                        if fake.enforce_limits:
                            keys = []
                            if path in LIMITS and item is not None:
                                keys.append(((path, item.item_id), LIMITS[path][0]))
                            if path in CLIENT_LIMITS:
                                keys.append(((path, "client"), CLIENT_LIMITS[path][0]))
                            hit = fake.limiter.allow(keys, time.monotonic()) if keys else None
                            if hit is not None:
                                code = LIMITS[path][1] if hit[1] != "client" else CLIENT_LIMITS[path][1]
                                raise PlaidFailure(code)
                        if item is not None and item.login_required and path in LOGIN_BLOCKED:
                            raise PlaidFailure("ITEM_LOGIN_REQUIRED")
                        result = handlers[path](body_obj, item)
                        if path == "/item/public_token/exchange":
                            item_id = result["item_id"]
                        pieces = result if isinstance(result, list) else [dumps(result)]
                if delay:
                    time.sleep(delay)
                if injected is not None:
                    if injected["error"]:
                        status, body = fake.fx.error_body(injected["error"], status=injected["status"],
                                                          error_type=injected["error_type"])
                    else:
                        status, body = 200, fake.not_ready()
                    return self.answer(path, item_id, at_ms, started, status, body)
                return self.answer(path, item_id, at_ms, started, 200, pieces)
            except PlaidFailure as failure:
                if failure.violation:
                    entry = {"endpoint": path, "error_code": failure.code, "errors": failure.violation,
                             "body": redact(body_obj)}
                    with fake.lock:
                        fake.violations.append(entry)
                status, body = fake.fx.error_body(failure.code, failure.message)
                return self.answer(path, item_id, at_ms, started, status, body)

        def answer(self, path, item_id, at_ms, started, status, body):
            error_code = body.get("error_code") if isinstance(body, dict) else None
            duration = round((time.monotonic() - started) * 1000, 3)
            with fake.lock:  # recorded before the answer leaves, so a client that got it finds it in /_fake/calls
                fake.calls.append({"endpoint": path, "item_id": item_id, "at_ms": at_ms, "status": status,
                                   "error_code": error_code, "duration_ms": duration})
            self.send(status, body)
            if fake.verbose:
                print(f"fake-plaid: {path} item={item_id} → {status} {error_code or ''} {duration} ms",
                      file=sys.stderr, flush=True)

        # -- control --

        def control(self, method, url, raw):
            try:
                body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            except ValueError:
                return 400, {"error": "body is not JSON"}
            if body is not None and not isinstance(body, dict):
                return 400, {"error": "body must be a JSON object"}
            body = body or {}
            parts = [unquote(p) for p in url.path.split("/")[2:] if p]
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST" and len(parts) == 3 and parts[0] == "items" and parts[2] == "fire_webhook":
                try:
                    return self.fire_webhook(parts[1], body)
                except ControlError as error:
                    return error.status, {"error": str(error)}
            try:
                with fake.lock:
                    return self.control_locked(method, parts, body, query)
            except ControlError as error:
                return error.status, {"error": str(error)}
            except (TypeError, ValueError, KeyError) as error:
                return 400, {"error": f"bad request: {error!r}"}

        def control_locked(self, method, parts, body, query):
            route = (method, tuple(parts[:1]))
            if route == ("GET", ("health",)):
                return 200, {"ok": True}
            if route == ("POST", ("reset",)):
                fake.reset()
                return 200, {"ok": True}
            if route == ("GET", ("calls",)):
                return 200, [c for c in fake.calls
                             if ("item_id" not in query or c["item_id"] == query["item_id"])
                             and ("endpoint" not in query or c["endpoint"] == query["endpoint"])]
            if route == ("GET", ("violations",)):
                return 200, fake.violations
            if route == ("GET", ("items",)) and len(parts) == 1:
                return 200, [{"item_id": i.item_id, "access_token": i.access_token, "transactions": len(i.live),
                              "account_ids": i.account_ids, "login_required": i.login_required,
                              "webhook": i.webhook, "events": len(i.events)} for i in fake.items.values()]
            if route == ("POST", ("inject",)):
                return 200, self.inject(body)
            if route == ("POST", ("keys",)):
                return 200, self.add_key(body)
            if method == "POST" and len(parts) == 3 and parts[0] == "items":
                item = fake.items.get(parts[1])
                if item is None:
                    raise ControlError(404, f"no item {parts[1]}")
                action = parts[2]
                if action == "transactions":
                    count = body.get("count")
                    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_SYNTHETIC:
                        raise ControlError(400, f"count must be an integer 0…{MAX_SYNTHETIC}")
                    seed = body.get("seed", 0)
                    events, live, serial, base = item.events, item.live, item.serial, item.base
                    item.base = item.head + 1
                    item.events, item.live, item.serial = [], {}, 0
                    try:
                        fake.add_synthetic(item, count, seed, validate=True)
                    except ValueError as error:
                        item.events, item.live, item.serial, item.base = events, live, serial, base
                        raise ControlError(500, str(error))
                    return 200, {"count": count}
                if action == "advance":
                    for key in ("added", "modified", "removed"):
                        value = body.get(key, 0)
                        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SYNTHETIC:
                            raise ControlError(400, f"{key} must be an integer 0…{MAX_SYNTHETIC}")
                    return 200, fake.advance(item, body)
                if action == "balances":
                    account = next((a for a in item.accounts if a["account_id"] == body.get("account_id")), None)
                    if account is None:
                        raise ControlError(404, f"no account {body.get('account_id')} in item {item.item_id}")
                    for key in ("current", "available", "limit"):
                        if key in body:
                            value = body[key]
                            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                                raise ControlError(400, f"{key} must be a number or null")
                            account["balances"][key] = value
                    return 200, {"ok": True}
                if action == "login_required":
                    item.login_required = bool(body.get("on", True))
                    return 200, {"ok": True}
            raise ControlError(404, f"no control route {method} /_fake/{'/'.join(parts)}")

        def fire_webhook(self, item_id, body):
            code = body.get("webhook_code", "SYNC_UPDATES_AVAILABLE")
            with fake.lock:
                item = fake.items.get(item_id)
                if item is None:
                    raise ControlError(404, f"no item {item_id}")
                url = item.webhook
            if not url:
                raise ControlError(400, f"item {item_id} has no webhook URL (options.webhook at link, or /item/webhook/update)")
            if code == "SYNC_UPDATES_AVAILABLE":
                hook = {"webhook_type": "TRANSACTIONS", "webhook_code": code, "item_id": item_id, "environment": "sandbox",
                        "initial_update_complete": True, "historical_update_complete": True}
            elif code == "PENDING_EXPIRATION":
                expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
                hook = {"webhook_type": "ITEM", "webhook_code": code, "item_id": item_id, "environment": "sandbox",
                        "consent_expiration_time": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
            elif code == "ERROR":
                error = fake.fx.error_body("ITEM_LOGIN_REQUIRED")[1]
                error = {k: error.get(k) for k in ("error_type", "error_code", "error_message", "display_message", "status")}
                hook = {"webhook_type": "ITEM", "webhook_code": code, "item_id": item_id, "environment": "sandbox",
                        "error": error}
            else:
                raise ControlError(400, "webhook_code must be SYNC_UPDATES_AVAILABLE, PENDING_EXPIRATION or ERROR")
            raw = json.dumps(hook, separators=(",", ":")).encode()
            header = fake.signer.sign(raw, int(time.time()))
            target = urlsplit(url)
            if target.scheme != "http" or not target.hostname:
                raise ControlError(400, f"the fake only delivers to http:// URLs, not {url}")
            conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
            try:
                conn.request("POST", (target.path or "/") + (f"?{target.query}" if target.query else ""), body=raw,
                             headers={"Content-Type": "application/json", "Plaid-Verification": header})
                answer = conn.getresponse()
                text = answer.read().decode("utf-8", "replace")
            except OSError as error:
                raise ControlError(502, f"could not deliver to {url}: {error}")
            finally:
                conn.close()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            return 200, {"status": answer.status, "body": parsed}

        def inject(self, body):
            endpoint = body.get("endpoint")
            if endpoint not in handlers:
                raise ControlError(400, f"endpoint must be one of {sorted(handlers)}")
            error = body.get("error")
            status, error_type = body.get("status"), body.get("error_type")
            if error is not None:
                try:
                    fake.fx.error_body(error, status=status, error_type=error_type)
                except KeyError:
                    known = sorted(set(ERRORS) | set(fake.fx.errors))
                    raise ControlError(400, f"unknown error code {error}: give status and error_type, or one of {known}")
            rule = {"id": len(fake.injections) + 1, "endpoint": endpoint, "item_id": body.get("item_id"),
                    "error": error, "status": status, "error_type": error_type,
                    "delay_ms": float(body.get("delay_ms") or 0), "after_calls": int(body.get("after_calls", 0)),
                    "times": int(body.get("times", 1)), "not_ready": bool(body.get("not_ready", False)), "seen": 0}
            if rule["item_id"] is not None and rule["item_id"] not in fake.items:
                raise ControlError(404, f"no item {rule['item_id']}")
            fake.injections.append(rule)
            return {"id": rule["id"]}

        def add_key(self, body):
            jwk = body.get("jwk")
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                raise ControlError(400, "jwk must be an object with a kid")
            key = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "k", "oth")}
            key.setdefault("alg", "ES256")
            key.setdefault("use", "sig")
            key.setdefault("created_at", int(time.time()))
            key.setdefault("expired_at", None)
            problems = describe_errors(fake.jwk_validator, key)
            if problems:
                raise ControlError(400, f"not a Plaid JWKPublicKey: {problems[1]}")
            fake.keys[key["kid"]] = key
            return {"kid": key["kid"]}

    return Handler


def main(argv):
    parser = argparse.ArgumentParser(description="A fake Plaid API for JobKit's tests (see the module docstring).")
    parser.add_argument("--prepare", action="store_true", help="make sure the venv exists, print one line, exit")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fixtures", default=os.path.join(REPO, "Tests", "Fixtures", "plaid"))
    parser.add_argument("--client-id")
    parser.add_argument("--secret")
    parser.add_argument("--enforce-limits", action="store_true")
    parser.add_argument("--reject-unknown-fields", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-parent-watch", action="store_true")
    args = parser.parse_args(argv)
    venv = ensure_venv(__file__, argv)
    if args.prepare:
        from importlib.metadata import version
        print(f"jsonschema {version('jsonschema')} ready in {venv}")
        return 0

    parent = os.getppid()
    fixtures = Fixtures(args.fixtures)
    spec = Spec(os.path.join(args.fixtures, "plaid-openapi-subset.json"), args.reject_unknown_fields)
    fake = Fake(fixtures, spec, args.client_id or fixtures.client_id, args.secret or fixtures.secret,
                args.enforce_limits, args.verbose)
    return fakeserver.serve(make_handler(fake), args.host, args.port, not args.no_parent_watch, parent)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
