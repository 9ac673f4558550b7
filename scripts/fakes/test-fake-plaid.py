#!/usr/bin/env python3
"""Self-test of scripts/fakes/fake-plaid.py: starts the fake as the Swift tests do (`python3 fake-plaid.py --port 0`),
drives it over HTTP and checks it against the fixtures and the OpenAPI subset.

    scripts/fakes/test-fake-plaid.py        (runs in the fake's venv, like the fake; about 15 s)

It replays every fixture request example (each 200 response must have the fixture's shape and validate against the
spec's response schema; every error must validate against PlaidError), walks create → exchange → sync(count=2) twice
→ advance → sync with the fixture counts, sends invalid bodies (each rejected with 400 and listed, redacted, in
/_fake/violations), exercises injection, login_required, the control API and --enforce-limits, and syncs 50,000
synthetic transactions in 100 pages of 500, printing timings. Ends with "N passed, N failed"; exit 1 on a failure.
"""
import collections
import copy
import http.client
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake-plaid.py")
_spec = importlib.util.spec_from_file_location("fake_plaid", FAKE)
fp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fp)

FIXTURES = os.path.join(fp.REPO, "Tests", "Fixtures", "plaid")
EXAMPLES = os.path.join(FIXTURES, "examples")
HEADERS = {"Content-Type": "application/json", "Plaid-Version": "2020-09-14"}

results = collections.Counter()


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    if not ok:
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def example(name):
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
        return json.load(f)


def shape(value):
    """Keys, recursively (lists by their first element): two bodies of the same shape give the same value."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def without(value, *keys):
    value = copy.deepcopy(value)
    for key in keys:
        value.pop(key, None)
    return value


class Fake:
    def __init__(self, *args):
        env = {k: v for k, v in os.environ.items() if k != fp.VENV_MARK}  # start it exactly as the Swift tests will
        started = time.monotonic()
        self.proc = subprocess.Popen(["python3", FAKE, "--port", "0", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            raise SystemExit(f"fake-plaid did not start: {line!r}")
        self.startup_ms = (time.monotonic() - started) * 1000
        self.port = int(line.split()[1])
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        self.conn.request(method, path, body=data, headers=headers if headers is not None else HEADERS)
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, payload

    def post(self, path, body, headers=None, raw=None):
        status, payload = self.request("POST", path, body, headers, raw)
        return status, json.loads(payload)

    def control(self, method, path, body=None):
        status, payload = self.request(method, "/_fake/" + path, body, {"Content-Type": "application/json"})
        return status, json.loads(payload)

    def stop(self):
        self.conn.close()
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        return code, (time.monotonic() - started) * 1000


def main():
    fp.ensure_venv(__file__, sys.argv[1:])
    spec = fp.Spec(os.path.join(FIXTURES, "plaid-openapi-subset.json"))
    from jsonschema import Draft202012Validator
    Draft202012Validator.check_schema(spec.document)  # the OAS → JSON Schema conversion yields a valid schema
    check("converted spec is a valid JSON Schema", True)
    error_validator = spec.component("PlaidError")
    response_validators = {p: spec.response(p) for p in spec.requests}
    index = example("index.json")["files"]
    creds = example("accounts_get.request.json")

    def validated(path, status, body, label):
        validator = response_validators[path] if status == 200 else error_validator
        problems = fp.describe_errors(validator, body)
        check(f"{label}: response validates against the spec", problems is None, problems and problems[1][:5])
        return body

    fake = Fake()
    print(f"fake-plaid started in {fake.startup_ms:.0f} ms on port {fake.port}")

    def call(path, body, expect=200, label=None, headers=None):
        status, response = fake.post(path, body, headers)
        label = label or path
        check(f"{label}: HTTP {expect}", status == expect, f"got {status}: {json.dumps(response)[:300]}")
        validated(path, status, response, label)
        return response

    # --- 1. every fixture request example, in story order -------------------------------------------------------
    order = ["sandbox_public_token_create", "item_public_token_exchange", "accounts_get", "accounts_balance_get",
             "item_get", "institutions_get_by_id", "item_webhook_update", "webhook_verification_key_get",
             "transactions_sync.request.initial", "transactions_sync.request.page2"]
    replies = {"transactions_sync.request.initial": "transactions_sync.response.page1.json",
               "transactions_sync.request.page2": "transactions_sync.response.page2.json"}
    requests_seen = set()
    for name in order:
        file = name + (".request.json" if "." not in name else ".json")
        requests_seen.add(file)
        endpoint = index[file]["endpoint"]
        expected = example(replies.get(name, name + ".response.json"))
        got = call(endpoint, example(file), label=f"fixture {file}")
        check(f"fixture {file}: shape equals the fixture response", shape(got) == shape(expected),
              f"{sorted(got)} vs {sorted(expected)}")
        if endpoint == "/transactions/sync":
            for section in ("accounts", "added", "modified", "removed"):
                check(f"fixture {file}: {section} equal the fixture's", got[section] == expected[section])
            check(f"fixture {file}: has_more", got["has_more"] == expected["has_more"])
        elif endpoint in ("/sandbox/public_token/create", "/item/public_token/exchange"):
            check(f"fixture {file}: first tokens/ids are the fixture's",
                  without(got, "request_id") == without(expected, "request_id"), json.dumps(got))
        elif endpoint == "/accounts/balance/get":
            trimmed = copy.deepcopy(got)
            for acc, want in zip(trimmed["accounts"], expected["accounts"]):
                acc["balances"]["last_updated_datetime"] = want["balances"]["last_updated_datetime"]
            check(f"fixture {file}: equal to the fixture but for request_id and the update time",
                  without(trimmed, "request_id") == without(expected, "request_id"))
        else:
            check(f"fixture {file}: equal to the fixture but for request_id",
                  without(got, "request_id") == without(expected, "request_id"),
                  json.dumps(without(got, "request_id"))[:400])
    status, _ = fake.control("POST", f"items/{example('item_public_token_exchange.response.json')['item_id']}/advance")
    check("advance (fixture item): 200", status == 200)
    file = "transactions_sync.request.incremental.json"
    requests_seen.add(file)
    got = call("/transactions/sync", example(file), label=f"fixture {file}")
    expected = example("transactions_sync.response.incremental.json")
    for section in ("accounts", "added", "modified", "removed"):
        check(f"fixture {file}: {section} equal the fixture's", got[section] == expected[section])
    check(f"fixture {file}: shape equals the fixture response", shape(got) == shape(expected))
    all_requests = {f for f, meta in index.items() if meta["kind"] == "request"}
    check("every fixture request example was replayed", requests_seen == all_requests, all_requests - requests_seen)

    # --- 2. a second Item walks the fixture story with derived ids ----------------------------------------------
    create_req = example("sandbox_public_token_create.request.json")
    public = call("/sandbox/public_token/create", create_req)["public_token"]
    check("second public token is fresh", public.startswith("public-sandbox-") and public != example(
        "sandbox_public_token_create.response.json")["public_token"])
    exchanged = call("/item/public_token/exchange", {**creds_only(creds), "public_token": public})
    token, item_id = exchanged["access_token"], exchanged["item_id"]
    first_item = example("item_public_token_exchange.response.json")["item_id"]
    check("second item: derived item id", item_id == first_item[:-6] + "000002", item_id)
    status, again = fake.post("/item/public_token/exchange", {**creds_only(creds), "public_token": public})
    check("used public token → 400 INVALID_PUBLIC_TOKEN", status == 400 and again["error_code"] == "INVALID_PUBLIC_TOKEN")
    sync = {**creds_only(creds), "access_token": token, "count": 2}
    page1 = call("/transactions/sync", sync, label="item 2 page1")
    check("item 2 page1: 2 added, has_more", len(page1["added"]) == 2 and page1["has_more"] is True)
    page2 = call("/transactions/sync", {**sync, "cursor": page1["next_cursor"]}, label="item 2 page2")
    check("item 2 page2: 1 added, no more", len(page2["added"]) == 1 and page2["has_more"] is False
          and not page2["modified"] and not page2["removed"])
    ids1 = {t["transaction_id"] for t in example("transactions_sync.response.page1.json")["added"]}
    ids2 = {t["transaction_id"] for t in page1["added"]}
    check("item 2 transaction ids differ from item 1's", not ids1 & ids2, ids2)
    accounts1 = {a["account_id"] for a in example("accounts_get.response.json")["accounts"]}
    check("item 2 account ids differ from item 1's", not accounts1 & {a["account_id"] for a in page1["accounts"]})
    check("item 2 transactions belong to item 2's accounts",
          {t["account_id"] for t in page1["added"] + page2["added"]} <= {a["account_id"] for a in page1["accounts"]})
    empty = call("/transactions/sync", {**sync, "cursor": page2["next_cursor"]}, label="item 2 caught up")
    check("item 2 caught up: nothing new, same cursor", not empty["added"] and empty["next_cursor"] == page2["next_cursor"])
    fake.control("POST", f"items/{item_id}/advance")
    inc = call("/transactions/sync", {**sync, "cursor": page2["next_cursor"], "count": 500}, label="item 2 incremental")
    check("item 2 incremental: 1 added, 1 modified, 1 removed",
          (len(inc["added"]), len(inc["modified"]), len(inc["removed"])) == (1, 1, 1))
    check("item 2 incremental: posted txn replaces the removed pending one",
          inc["added"][0]["pending_transaction_id"] == inc["removed"][0]["transaction_id"])
    full = call("/transactions/sync", {**sync, "count": 500}, label="item 2 full resync")
    check("full resync folds the history: 3 added (payroll at -1275), 0 modified, 1 removed",
          len(full["added"]) == 3 and not full["modified"] and len(full["removed"]) == 1
          and -1275.0 in [t["amount"] for t in full["added"]], json.dumps([len(full[k]) for k in ("added", "modified", "removed")]))
    status, items = fake.control("GET", "items")
    live = {i["item_id"]: i["transactions"] for i in items}
    check("GET /_fake/items: live counts (3 then 3 after the pending→posted swap)",
          live == {first_item: 3, item_id: 3}, live)
    now = call("/transactions/sync", {**sync, "cursor": "now"}, label="cursor now")
    check("cursor \"now\" → nothing, head cursor", not now["added"] and now["next_cursor"] == inc["next_cursor"])

    # --- 3. invalid requests: 400 + violations, secrets redacted -----------------------------------------------
    fake.control("POST", "reset")
    # (after a reset the first Item gets the fixture ids again)
    public = call("/sandbox/public_token/create", create_req)["public_token"]
    token = call("/item/public_token/exchange", {**creds_only(creds), "public_token": public})["access_token"]
    base = {**creds_only(creds), "access_token": token}
    bad = [
        ("count 501", {**base, "count": 501}, "INVALID_FIELD", "$.count"),
        ("count 0", {**base, "count": 0}, "INVALID_FIELD", "$.count"),
        ("missing access_token", creds_only(creds), "MISSING_FIELDS", "$.access_token"),
        ("count as string", {**base, "count": "2"}, "INVALID_FIELD", "$.count"),
        ("cursor as number", {**base, "cursor": 5}, "INVALID_FIELD", "$.cursor"),
        ("options null", {**base, "options": None}, "INVALID_FIELD", "$.options"),
        ("days_requested 731", {**base, "options": {"days_requested": 731}}, "INVALID_FIELD",
         "$.options.days_requested"),
        ("access_token as number", {**creds_only(creds), "access_token": 12345}, "INVALID_FIELD", "$.access_token"),
    ]
    for label, body, code, needle in bad:
        status, err = fake.post("/transactions/sync", body)
        check(f"invalid ({label}): 400 INVALID_REQUEST/{code} naming {needle}",
              status == 400 and err.get("error_type") == "INVALID_REQUEST" and err.get("error_code") == code
              and needle in err.get("error_message", ""), json.dumps(err)[:300])
        validated("/transactions/sync", status, err, f"invalid ({label})")
    status, err = fake.post("/institutions/get_by_id", {**creds_only(creds), "institution_id": "ins_109508",
                                                        "country_codes": ["XX"]})
    check("invalid enum (country_codes XX) → 400 INVALID_FIELD", status == 400 and err["error_code"] == "INVALID_FIELD"
          and "$.country_codes[0]" in err["error_message"], err.get("error_message"))
    status, err = fake.post("/transactions/sync", {**base, "count": 1, "unknown_field": 1})
    check("unknown request field passes by default (the spec leaves objects open)", status == 200)
    status, err = fake.post("/item/webhook/update", {**base, "webhook": None})
    check("nullable field accepts null (webhook: null)", status == 200, json.dumps(err)[:200])
    status, err = fake.post("/transactions/sync", {**base, "count": 2}, headers={"Content-Type": "application/json"})
    check("missing Plaid-Version → 400 INVALID_HEADERS", status == 400 and err["error_code"] == "INVALID_HEADERS")
    status, err = fake.post("/transactions/sync", None, raw=b"{not json")
    check("malformed JSON → 400 INVALID_BODY", status == 400 and err["error_code"] == "INVALID_BODY")
    status, err = fake.post("/transactions/sync", {**base, "secret": "wrong-secret"})
    check("wrong secret → 400 INVALID_API_KEYS / INVALID_INPUT",
          status == 400 and err["error_code"] == "INVALID_API_KEYS" and err["error_type"] == "INVALID_INPUT")
    headers = {**HEADERS, "PLAID-CLIENT-ID": creds["client_id"], "PLAID-SECRET": creds["secret"]}
    status, err = fake.post("/transactions/sync", {"access_token": token, "count": 1}, headers=headers)
    check("credentials in PLAID-CLIENT-ID / PLAID-SECRET headers are accepted", status == 200, json.dumps(err)[:200])
    status, err = fake.post("/transactions/sync", {**base, "access_token": "access-sandbox-nope"})
    check("unknown access token → 400 INVALID_ACCESS_TOKEN", status == 400 and err["error_code"] == "INVALID_ACCESS_TOKEN")
    status, err = fake.post("/transactions/sync", {**base, "cursor": "bm90LWEtY3Vyc29y"})
    check("foreign cursor → 400 INVALID_FIELD", status == 400 and err["error_code"] == "INVALID_FIELD")
    status, violations = fake.control("GET", "violations")
    check("violations list every refusal (8 schema + enum + header + body + keys + cursor)",
          len(violations) == len(bad) + 5, len(violations))
    check("violation entries name the endpoint and errors",
          all(v["endpoint"] in ("/transactions/sync", "/institutions/get_by_id") and v["errors"] for v in violations)
          and all("$" in e or "Plaid-Version" in e or "match" in e for v in violations for e in v["errors"]),
          [v["errors"] for v in violations])
    dumped = json.dumps(violations)
    check("violations never contain the secret or an access token",
          creds["secret"] not in dumped and token not in dumped and "wrong-secret" not in dumped, dumped[:300])
    check("violation bodies are redacted with ***", violations[0]["body"]["secret"] == "***"
          and violations[0]["body"]["access_token"] == "***")

    # --- 4. injection -------------------------------------------------------------------------------------------
    fake.control("POST", "reset")
    public = call("/sandbox/public_token/create", create_req)["public_token"]
    exchanged = call("/item/public_token/exchange", {**creds_only(creds), "public_token": public})
    token, item_id = exchanged["access_token"], exchanged["item_id"]
    base = {**creds_only(creds), "access_token": token}
    first = call("/transactions/sync", {**base, "count": 2}, label="before mutation")
    fake.control("POST", "inject", {"endpoint": "/transactions/sync", "item_id": item_id,
                                    "error": "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"})
    status, err = fake.post("/transactions/sync", {**base, "cursor": first["next_cursor"], "count": 2})
    check("injected mutation → 400 with the fixture error body",
          status == 400 and without(err, "request_id") ==
          without(example("error.transactions_sync_mutation_during_pagination.json"), "request_id"))
    validated("/transactions/sync", status, err, "injected mutation")
    restart = call("/transactions/sync", {**base, "count": 500}, label="restart after mutation")
    check("after the mutation: the restart succeeds and sees the changed data (4 added)",
          len(restart["added"]) == 4 and restart["has_more"] is False, len(restart["added"]))
    fake.control("POST", "inject", {"endpoint": "/transactions/sync", "error": "TRANSACTIONS_SYNC_LIMIT"})
    status, err = fake.post("/transactions/sync", base)
    check("injected TRANSACTIONS_SYNC_LIMIT → 429", status == 429 and err["error_code"] == "TRANSACTIONS_SYNC_LIMIT"
          and err["error_type"] == "RATE_LIMIT_EXCEEDED")
    status, _ = fake.post("/transactions/sync", base)
    check("… once only", status == 200)
    fake.control("POST", "inject", {"endpoint": "/accounts/get", "error": "INTERNAL_SERVER_ERROR", "after_calls": 1,
                                    "times": 2})
    statuses = [fake.post("/accounts/get", base)[0] for _ in range(4)]
    check("after_calls 1, times 2: 200, 500, 500, 200", statuses == [200, 500, 500, 200], statuses)
    fake.control("POST", "inject", {"endpoint": "/accounts/balance/get", "error": "INSTITUTION_DOWN"})
    status, err = fake.post("/accounts/balance/get", base)
    check("injected INSTITUTION_DOWN → the fixture error", status == 400 and err["error_type"] == "INSTITUTION_ERROR")
    fake.control("POST", "inject", {"endpoint": "/transactions/sync", "not_ready": True})
    status, nr = fake.post("/transactions/sync", base)
    check("injected not_ready → NOT_READY, next_cursor \"\"", status == 200 and nr["transactions_update_status"] ==
          "NOT_READY" and nr["next_cursor"] == "" and nr["added"] == [])
    validated("/transactions/sync", status, nr, "not_ready")
    fake.control("POST", "inject", {"endpoint": "/item/get", "delay_ms": 300})
    started = time.monotonic()
    status, _ = fake.post("/item/get", base)
    waited = (time.monotonic() - started) * 1000
    check("injected delay 300 ms, then a normal answer", status == 200 and waited >= 290, f"{waited:.0f} ms")
    status, err = fake.control("POST", "inject", {"endpoint": "/item/get", "error": "NO_SUCH_CODE"})
    check("unknown error code without status/error_type → control 400", status == 400)
    fake.control("POST", "inject", {"endpoint": "/item/get", "error": "NO_SUCH_CODE", "status": 418,
                                    "error_type": "API_ERROR"})
    status, err = fake.post("/item/get", base)
    check("custom error code with status and error_type", status == 418 and err["error_code"] == "NO_SUCH_CODE")

    # --- 5. login_required, balances, keys, calls ----------------------------------------------------------------
    fake.control("POST", f"items/{item_id}/login_required", {"on": True})
    for path in ("/accounts/get", "/accounts/balance/get", "/transactions/sync"):
        status, err = fake.post(path, base)
        check(f"login_required: {path} → 400 ITEM_LOGIN_REQUIRED", status == 400 and without(err, "request_id") ==
              without(example("error.item_login_required.json"), "request_id"))
    got = call("/item/get", base, label="item/get while login required")
    check("login_required: /item/get → the login_required fixture shape",
          shape(got) == shape(example("item_get.response.login_required.json"))
          and got["item"]["error"]["error_code"] == "ITEM_LOGIN_REQUIRED")
    fake.control("POST", f"items/{item_id}/login_required", {"on": False})
    status, _ = fake.post("/transactions/sync", base)
    check("login_required off → sync works again", status == 200)
    account = example("accounts_get.response.json")["accounts"][1]["account_id"]
    status, _ = fake.control("POST", f"items/{item_id}/balances", {"account_id": account, "current": 123.45,
                                                                    "available": 100.5})
    got = call("/accounts/balance/get", base, label="balance after control")
    balance = next(a["balances"] for a in got["accounts"] if a["account_id"] == account)
    check("balances control → /accounts/balance/get", status == 200 and balance["current"] == 123.45
          and balance["available"] == 100.5)
    status, err = fake.post("/accounts/get", {**base, "options": {"account_ids": ["nope"]}})
    check("unknown account id filter → 400 INVALID_ACCOUNT_ID", status == 400 and err["error_code"] == "INVALID_ACCOUNT_ID")
    with open(os.path.join(FIXTURES, "webhook_signing", "test-only-signing-key.jwk.json")) as f:
        jwk = json.load(f)
    jwk["kid"] = "added-by-the-test"
    status, _ = fake.control("POST", "keys", {"jwk": jwk})
    got = call("/webhook_verification_key/get", {**creds_only(creds), "key_id": "added-by-the-test"},
               label="added key")
    check("added key is served, without its private part", status == 200 and got["key"]["x"] == jwk["x"]
          and "d" not in got["key"])
    status, err = fake.post("/webhook_verification_key/get", {**creds_only(creds), "key_id": "unknown"})
    check("unknown kid → the fixture error", status == 400 and without(err, "request_id") ==
          without(example("error.invalid_webhook_verification_key_id.json"), "request_id"))
    status, calls = fake.control("GET", f"calls?item_id={item_id}&endpoint=/accounts/get")
    check("GET /_fake/calls filters by item and endpoint",
          status == 200 and len(calls) == 6 and all(c["endpoint"] == "/accounts/get" and c["item_id"] == item_id
                                                    for c in calls)
          and [c["status"] for c in calls] == [200, 500, 500, 200, 400, 400], [c["status"] for c in calls])
    check("calls carry at_ms", all(abs(c["at_ms"] / 1000 - time.time()) < 120 for c in calls))

    # --- 6. tenants in parallel: 4 threads, each its own Item, syncing page by page ----------------------------
    import threading
    fake.control("POST", "reset")
    outcomes = {}

    def tenant(n):
        conn = Fake.__new__(Fake)
        conn.conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
        public = conn.post("/sandbox/public_token/create", create_req)[1]["public_token"]
        token = conn.post("/item/public_token/exchange", {**creds_only(creds), "public_token": public})[1]["access_token"]
        ids, cursor, more = [], "", True
        while more:
            status, page = conn.post("/transactions/sync", {**creds_only(creds), "access_token": token, "count": 1,
                                                            "cursor": cursor})
            if status != 200:
                break
            ids += [t["transaction_id"] for t in page["added"]]
            cursor, more = page["next_cursor"], page["has_more"]
        outcomes[n] = ids
        conn.conn.close()
    threads = [threading.Thread(target=tenant, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for ids in outcomes.values() for i in ids]
    check("4 tenants in parallel: 3 transactions each, no id shared", len(outcomes) == 4
          and all(len(ids) == 3 for ids in outcomes.values()) and len(set(all_ids)) == 12, outcomes)

    # --- 7. 50,000 transactions in 100 pages of 500 -------------------------------------------------------------
    fake.control("POST", "reset")
    public = call("/sandbox/public_token/create", create_req)["public_token"]
    exchanged = call("/item/public_token/exchange", {**creds_only(creds), "public_token": public})
    token, item_id = exchanged["access_token"], exchanged["item_id"]
    started = time.monotonic()
    status, made = fake.control("POST", f"items/{item_id}/transactions", {"count": 50000, "seed": 7})
    generate_ms = (time.monotonic() - started) * 1000
    check("control: 50,000 synthetic transactions", status == 200 and made == {"count": 50000}, made)
    body = {**creds_only(creds), "access_token": token, "count": 500}
    page_ms, sizes, seen, pages, cursor, more = [], [], set(), 0, None, True
    amounts_ok, dates, pending, names = True, [], 0, set()
    while more and pages < 200:
        if cursor:
            body["cursor"] = cursor
        started = time.monotonic()
        status, payload = fake.request("POST", "/transactions/sync", body)
        response = json.loads(payload)
        page_ms.append((time.monotonic() - started) * 1000)
        sizes.append(len(payload))
        pages += 1
        if status != 200:
            check("bulk page HTTP 200", False, payload[:200])
            break
        for txn in response["added"]:
            seen.add(txn["transaction_id"])
            amounts_ok &= round(txn["amount"] * 100) == txn["amount"] * 100 or \
                abs(round(txn["amount"], 2) - txn["amount"]) < 1e-9
            dates.append(txn["date"])
            pending += txn["pending"]
            names.add(txn["personal_finance_category"]["detailed"])
        if pages in (1, 100):
            validated("/transactions/sync", status, response, f"bulk page {pages}")
        cursor, more = response["next_cursor"], response["has_more"]
    check("bulk: 100 pages, 50,000 distinct transactions", pages == 100 and len(seen) == 50000, (pages, len(seen)))
    check("bulk: amounts in whole cents, dates ascending over ~2 years, some pending, varied categories",
          amounts_ok and dates == sorted(dates) and 0 < pending < 5000 and len(names) >= 10,
          (amounts_ok, dates[0], dates[-1], pending, len(names)))
    status, calls = fake.control("GET", f"calls?item_id={item_id}&endpoint=/transactions/sync")
    server_ms = [c["duration_ms"] for c in calls][-pages:]
    status, items = fake.control("GET", "items")
    check("GET /_fake/items: 50,000 live transactions", items[0]["transactions"] == 50000, items)
    status, adv = fake.control("POST", f"items/{item_id}/advance", {"added": 5, "modified": 2, "removed": 3})
    tail = call("/transactions/sync", {**body, "cursor": cursor}, label="bulk advance")
    check("advance {added 5, modified 2, removed 3} → one page of 5/2/3",
          (len(tail["added"]), len(tail["modified"]), len(tail["removed"])) == (5, 2, 3) and adv["transactions"] == 50002,
          (adv, len(tail["added"]), len(tail["modified"]), len(tail["removed"])))

    print(f"bulk: generated 50,000 transactions in {generate_ms:.0f} ms; synced {pages} pages of 500 in "
          f"{sum(page_ms):.0f} ms ({sum(sizes) / 1e6:.1f} MB)")
    print(f"bulk: per page as the client sees it (incl. JSON decode): mean {statistics.mean(page_ms):.2f} ms, "
          f"median {statistics.median(page_ms):.2f} ms, max {max(page_ms):.2f} ms, {statistics.mean(sizes) / 1e3:.0f} kB")
    print(f"bulk: per page inside the fake (validate + build, before the write): mean {statistics.mean(server_ms):.2f} ms, "
          f"median {statistics.median(server_ms):.2f} ms, max {max(server_ms):.2f} ms")
    check("bulk: the fake spends < 5 ms per 500-row page (median)", statistics.median(server_ms) < 5.0,
          f"{statistics.median(server_ms):.2f} ms")

    code, stop_ms = fake.stop()
    check("SIGTERM → exit 0", code == 0, code)
    print(f"fake-plaid stopped by SIGTERM in {stop_ms:.0f} ms")

    # --- 8. --enforce-limits --reject-unknown-fields --------------------------------------------------------------------------------------
    limited = Fake("--enforce-limits", "--reject-unknown-fields")
    fake = limited
    public = call("/sandbox/public_token/create", create_req)["public_token"]
    token = call("/item/public_token/exchange", {**creds_only(creds), "public_token": public})["access_token"]
    base = {**creds_only(creds), "access_token": token}
    statuses = [limited.post("/accounts/balance/get", base)[0] for _ in range(6)]
    status, err = limited.post("/accounts/balance/get", base)
    check("--enforce-limits: 5 balance calls, then 429 BALANCE_LIMIT", statuses == [200] * 5 + [429] and status == 429
          and without(err, "request_id") == without(example("error.balance_limit.json"), "request_id"), statuses)
    statuses = [limited.post("/item/get", base)[0] for _ in range(16)]
    check("--enforce-limits: 15 item/get calls, then 429", statuses == [200] * 15 + [429], statuses)
    statuses = [limited.post("/transactions/sync", {**base, "count": 1})[0] for _ in range(51)]
    status, err = limited.post("/transactions/sync", base)
    check("--enforce-limits: 50 syncs, then 429 TRANSACTIONS_SYNC_LIMIT", statuses == [200] * 50 + [429]
          and err["error_code"] == "TRANSACTIONS_SYNC_LIMIT", statuses[-3:])
    status, err = limited.post("/transactions/sync", {**base, "count": 1, "options": {"days": 5}})
    check("--reject-unknown-fields: 400 UNKNOWN_FIELDS naming $.options.days", status == 400
          and err["error_code"] == "UNKNOWN_FIELDS" and "$.options.days" in err["error_message"], err.get("error_message"))
    status, _ = limited.post("/institutions/get_by_id", {**creds_only(creds), "institution_id": "ins_109508",
                                                        "country_codes": ["US"], "options": {"include_status": True}})
    check("--reject-unknown-fields: a body with only known fields passes", status == 200)
    code, _ = limited.stop()
    check("SIGTERM → exit 0 (limits)", code == 0, code)

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


def creds_only(body):
    return {"client_id": body["client_id"], "secret": body["secret"]}


if __name__ == "__main__":
    sys.exit(main())
