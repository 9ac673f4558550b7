#!/usr/bin/env python3
"""Self-test of scripts/fakes/fake-stripe.py (stdlib only): starts the fake as the Swift tests do
(`python3 fake-stripe.py --port 0`), drives it over HTTP and checks Stripe's behaviour. Prints failures and ends with
"N passed, N failed"; exit 1 on a failure.

    scripts/fakes/test-fake-stripe.py
"""
import collections
import http.client
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake-stripe.py")
_spec = importlib.util.spec_from_file_location("fake_stripe", FAKE)
fs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fs)
AUTH = {"Authorization": "Bearer sk_test_fake", "Stripe-Version": "2024-06-20"}
results = collections.Counter()


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    if not ok:
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


class Fake:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            raise SystemExit(f"fake-stripe did not start: {line!r}")
        self.port = int(line.split()[1])
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def call(self, method, path, form=None, key=None, headers=None):
        """→ (status, parsed body, headers dict, raw bytes). form: a list of pairs or a raw string."""
        hdrs = dict(AUTH if headers is None else headers)
        data = None
        if form is not None:
            data = (form if isinstance(form, str) else urlencode(form)).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if key is not None:
            hdrs["Idempotency-Key"] = key
        self.conn.request(method, path, body=data, headers=hdrs)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw), dict(response.getheaders()), raw

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, "/_fake/" + path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())

    def stop(self):
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


def main():
    # --- nested form parser (in process) -----------------------------------------------------------------------
    parsed = fs.parse_form("a[b][0][c]=v&items[0][price]=p0&items[1][price]=p1&items[1][quantity]=2"
                           "&metadata[tenant]=t1&expand[]=x&expand[]=y&email=a%40b.c&empty=")
    check("parse_form nested", parsed == {"a": {"b": [{"c": "v"}]}, "items": [{"price": "p0"},
                                          {"price": "p1", "quantity": "2"}], "metadata": {"tenant": "t1"},
                                          "expand": ["x", "y"], "email": "a@b.c", "empty": ""}, parsed)
    for bad in ("a[b=1", "a[x]=1&a[]=2", "[x]=1"):
        try:
            fs.parse_form(bad)
            check(f"parse_form refuses {bad}", False)
        except fs.StripeError as error:
            check(f"parse_form refuses {bad}", error.status == 400)

    started = time.monotonic()
    fake = Fake()
    print(f"fake-stripe started in {(time.monotonic() - started) * 1000:.0f} ms on port {fake.port}")

    # --- CRUD --------------------------------------------------------------------------------------------------
    st, cus, hd, _ = fake.call("POST", "/v1/customers", [("email", "a@example.com"), ("name", "Ann"),
                                                          ("metadata[tenant]", "t1"), ("expand[]", "x")])
    check("create 200", st == 200, (st, cus))
    check("create shape", cus["id"].startswith("cus_") and cus["object"] == "customer" and cus["email"] ==
          "a@example.com" and cus["name"] == "Ann" and cus["metadata"] == {"tenant": "t1"} and cus["livemode"] is False
          and cus["invoice_settings"]["default_payment_method"] is None and isinstance(cus["created"], int), cus)
    check("Request-Id header", hd.get("Request-Id", "").startswith("req_") and len(hd["Request-Id"]) > 8, hd)
    cid = cus["id"]
    st, got, _, _ = fake.call("GET", f"/v1/customers/{cid}")
    check("retrieve", st == 200 and got == cus, (st, got))
    st, upd, _, _ = fake.call("POST", f"/v1/customers/{cid}", [("metadata[plan]", "pro"),
                                                               ("invoice_settings[default_payment_method]", "pm_1")])
    check("update merges metadata", st == 200 and upd["metadata"] == {"tenant": "t1", "plan": "pro"}, upd)
    check("update default_payment_method", upd["invoice_settings"]["default_payment_method"] == "pm_1", upd)
    st, upd, _, _ = fake.call("POST", f"/v1/customers/{cid}", [("metadata[plan]", "")])
    check("metadata[k]= removes k", upd["metadata"] == {"tenant": "t1"}, upd)
    st, err, _, _ = fake.call("POST", "/v1/customers", [("colour", "red")])
    check("unknown parameter → 400", st == 400 and err["error"]["code"] == "parameter_unknown"
          and err["error"]["param"] == "colour", (st, err))
    fake.call("POST", "/v1/customers", [("email", "b@example.com")])
    st, lst, _, _ = fake.call("GET", "/v1/customers?email=a%40example.com")
    check("list by email", st == 200 and lst["object"] == "list" and lst["url"] == "/v1/customers"
          and lst["has_more"] is False and [c["id"] for c in lst["data"]] == [cid], lst)
    st, lst, _, _ = fake.call("GET", "/v1/customers?limit=1")
    check("list limit/has_more", len(lst["data"]) == 1 and lst["has_more"] is True
          and lst["data"][0]["email"] == "b@example.com", lst)
    st, gone, _, _ = fake.call("DELETE", f"/v1/customers/{cid}")
    check("delete", st == 200 and gone == {"id": cid, "object": "customer", "deleted": True}, (st, gone))
    st, got, _, _ = fake.call("GET", f"/v1/customers/{cid}")
    check("retrieve deleted", st == 200 and got.get("deleted") is True, got)
    st, err, _, _ = fake.call("POST", f"/v1/customers/{cid}", [("name", "x")])
    check("update deleted → 404", st == 404, (st, err))
    st, err, _, _ = fake.call("GET", "/v1/customers/cus_nope")
    check("unknown id → 404 resource_missing", st == 404 and err["error"] == {
        "type": "invalid_request_error", "code": "resource_missing", "param": "id",
        "message": "No such customer: 'cus_nope'"}, (st, err))

    # --- auth --------------------------------------------------------------------------------------------------
    st, err, hd, raw = fake.call("GET", "/v1/customers", headers={"Authorization": "Bearer sk_test_wrong_secret_123"})
    check("wrong key → 401", st == 401 and err["error"]["type"] == "invalid_request_error"
          and err["error"]["message"].startswith("Invalid API Key provided:") and b"wrong_secret" not in raw, raw)
    check("401 has Request-Id", hd.get("Request-Id", "").startswith("req_"), hd)
    st, err, _, _ = fake.call("GET", "/v1/customers", headers={})
    check("missing key → 401", st == 401, (st, err))

    # --- idempotency -------------------------------------------------------------------------------------------
    fake.control("POST", "reset")
    form = [("email", "i@example.com"), ("metadata[tenant]", "t2")]
    st1, c1, h1, raw1 = fake.call("POST", "/v1/customers", form, key="k1")
    st2, c2, h2, raw2 = fake.call("POST", "/v1/customers", form, key="k1")
    check("replay same status+body", (st1, raw1) == (st2, raw2) == (200, raw1), (st1, st2))
    check("replay header", h2.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in h1, h2)
    check("replay has its own Request-Id", h2["Request-Id"] != h1["Request-Id"]
          and h2.get("Original-Request") == h1["Request-Id"], h2)
    _, objs = fake.control("GET", "objects?type=customer")
    check("replay created once", len(objs) == 1, objs)
    st, err, _, _ = fake.call("POST", "/v1/customers", [("email", "other@example.com")], key="k1")
    check("same key, other params → 400 idempotency_error", st == 400 and err["error"]["type"] == "idempotency_error"
          and "same parameters" in err["error"]["message"], (st, err))
    st, err, _, _ = fake.call("POST", f"/v1/customers/{c1['id']}", form, key="k1")
    check("same key, other endpoint → 400", st == 400 and err["error"]["type"] == "idempotency_error", (st, err))
    _, log = fake.control("GET", "requests")
    check("request log", [(r["method"], r["path"], r["idempotency_key"], r["replayed"], r["status"]) for r in log] == [
        ("POST", "/v1/customers", "k1", False, 200), ("POST", "/v1/customers", "k1", True, 200),
        ("POST", "/v1/customers", "k1", False, 400), ("POST", f"/v1/customers/{c1['id']}", "k1", False, 400)], log)
    check("log form + version", log[0]["form"] == {"email": "i@example.com", "metadata": {"tenant": "t2"}}
          and log[0]["stripe_version"] == "2024-06-20" and log[0]["request_id"] == h1["Request-Id"], log[0])

    # --- injection ---------------------------------------------------------------------------------------------
    fake.control("POST", "reset")
    st, _ = fake.control("POST", "inject", {"path": "/v1/customers", "method": "POST", "status": 429,
                                            "should_retry": "true", "retry_after": 2, "times": 2})
    check("inject 200", st == 200)
    for attempt in (1, 2):
        st, err, hd, _ = fake.call("POST", "/v1/customers", [("email", "r@example.com")], key="k429")
        check(f"429 #{attempt}", st == 429 and err["error"]["code"] == "rate_limit"
              and err["error"]["type"] == "invalid_request_error", (st, err))
        check(f"429 #{attempt} headers", hd.get("Stripe-Should-Retry") == "true" and hd.get("Retry-After") == "2", hd)
    st, c, hd, _ = fake.call("POST", "/v1/customers", [("email", "r@example.com")], key="k429")
    check("429 not stored: retry with the same key succeeds", st == 200 and "Idempotent-Replayed" not in hd, (st, c))
    fake.control("POST", "inject", {"path": "/v1/customers", "method": "POST", "status": 402})
    st, err, _, _ = fake.call("POST", "/v1/customers", [("email", "d@example.com")])
    check("402 card_error", st == 402 and err["error"]["type"] == "card_error" and err["error"]["code"] ==
          "card_declined" and err["error"]["decline_code"] == "insufficient_funds", (st, err))
    fake.control("POST", "inject", {"path": "/v1/customers", "status": 500, "should_retry": "false"})
    st, err, hd, _ = fake.call("POST", "/v1/customers", [("email", "e@example.com")], key="k500b")
    check("500 before processing", st == 500 and err["error"]["type"] == "api_error"
          and hd.get("Stripe-Should-Retry") == "false", (st, err, hd))
    fake.control("POST", "inject", {"path": "/v1/customers/*", "method": "GET", "status": 409, "code": "lock_timeout"})
    st, err, _, _ = fake.call("GET", f"/v1/customers/{c['id']}")
    check("409 lock_timeout (prefix path)", st == 409 and err["error"]["code"] == "lock_timeout", (st, err))
    _, before = fake.control("GET", "objects?type=customer")
    fake.control("POST", "inject", {"path": "/v1/customers", "method": "POST", "status": 500,
                                    "after_processing": True})
    st1, err1, h1, raw1 = fake.call("POST", "/v1/customers", [("email", "ap@example.com")], key="kap")
    st2, err2, h2, raw2 = fake.call("POST", "/v1/customers", [("email", "ap@example.com")], key="kap")
    _, after = fake.control("GET", "objects?type=customer")
    check("after_processing 500", st1 == 500 and err1["error"]["type"] == "api_error", (st1, err1))
    check("after_processing: object created once", len(after) == len(before) + 1
          and after[-1]["email"] == "ap@example.com", after)
    check("after_processing: replay is the stored 500", st2 == 500 and raw2 == raw1
          and h2.get("Idempotent-Replayed") == "true", (st2, h2))
    st, _ = fake.control("POST", "inject", {"path": "/v1/customers", "status": 429, "after_processing": True})
    check("after_processing only for 500", st == 400)
    st, _ = fake.control("GET", "objects?type=invoice")
    check("objects unknown type → 400", st == 400)

    code = fake.stop()
    check("SIGTERM → exit 0", code == 0, code)
    # parent death: a middle process starts the fake and dies; the fake must exit by itself
    middle = subprocess.Popen([sys.executable, "-c", "import subprocess,sys; p=subprocess.Popen([sys.executable, "
                               f"{FAKE!r}, '--port', '0'], stdout=subprocess.PIPE); print(p.pid, p.stdout.readline()"
                               ".decode().strip(), flush=True)"], stdout=subprocess.PIPE)
    pid = int(middle.stdout.readline().split()[0])
    middle.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            check("exits when its parent dies", True)
            break
    else:
        os.kill(pid, signal.SIGTERM)
        check("exits when its parent dies", False)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
