#!/usr/bin/env python3
"""The finance backend's day, played against real jobnodes (scripts/demo runs this; see there).

    demo_day.py --jobnode BIN --redis URL --database URL --psql PSQL --out DIR [--ci] [--summary FILE]

Redis and PostgreSQL are given (scripts/demo starts them). This script starts the fakes (the fake Plaid, localstripe
with the fake Stripe in front, the fake SendGrid) unless real credentials are in the environment, runs
`jobnode migrate`, starts two jobnodes with the HTTP surface, and plays the day through the HTTP API, the providers'
signed webhooks and the CLI, as a product and its operators would. It ends with a summary table (and, with
--summary, the same as JSON for the CI test) and stops every process it started, by PID. Standard library only.

Real providers instead of fakes: PLAID_ENV=sandbox with PLAID_CLIENT_ID and PLAID_SECRET talks to Plaid's sandbox
(https://sandbox.plaid.com), STRIPE_SECRET_KEY=sk_test_… to Stripe's test mode. Their webhooks cannot reach a
loopback node, so with real providers the demo signs nothing itself: the Plaid webhook step is skipped and the
Stripe webhook step is sent only when STRIPE_WEBHOOK_SECRET is set too.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
FAKES = os.path.join(REPO, "scripts", "fakes")
PLAID_CLIENT_ID = "5f3c0ffee0ddba11c0ffee01"  # the fake Plaid's default credentials (the fixture's)
PLAID_SECRET = "sandbox_secret_0123456789abcdef0123456789"
STRIPE_FAKE_KEY = "sk_test_fake"
TENANTS = ("acme", "globex")
TERMINAL = ("completed", "dead", "canceled")


class DemoError(Exception):
    pass


class Demo:
    def __init__(self, args):
        self.args = args
        self.children = []  # (name, Popen), stopped in reverse order
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.api_key = "demo-" + secrets.token_hex(12)
        # The dashboard's user for this run (an operator), its password made here and hashed by `jobnode ui-user`.
        self.ui_password = secrets.token_urlsafe(9)
        self.started = time.monotonic()
        self.summary = {"tables": {}, "jobs": {}, "webhooks": {}, "checks": {}}
        env = os.environ
        self.real_plaid = env.get("PLAID_ENV") == "sandbox" and bool(env.get("PLAID_CLIENT_ID")) and bool(env.get("PLAID_SECRET"))
        self.real_stripe = env.get("STRIPE_SECRET_KEY", "").startswith("sk_test_")

    # -- output ----------------------------------------------------------------------------------------------------

    def step(self, text):
        print(f"==> {text}", flush=True)

    def info(self, text):
        print(f"    {text}", flush=True)

    # -- processes -------------------------------------------------------------------------------------------------

    def spawn(self, name, argv, env=None):
        log = open(os.path.join(self.logs, f"{name}.log"), "wb")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env)
        self.children.append((name, proc))
        return proc

    def start_fake(self, name, argv):
        """Starts a fake that prints `LISTENING <port>` first; returns its port."""
        proc = self.spawn(name, [sys.executable] + argv + ["--port", "0"])
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("LISTENING "):
            raise DemoError(f"{name} did not start (see {self.logs}/{name}.log): {line!r}")
        return int(line.split()[1])

    def start_node(self, name, port, env):
        argv = [self.args.jobnode, "run", "--name", name, "--concurrency", "8",
                "--http", f"127.0.0.1:{port}", "--public-health", "--log-level", "info"]
        log = open(os.path.join(self.logs, f"{name}.log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.children.append((name, proc))
        return proc

    def stop_all(self):
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self.children):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def ui_user_entry(self):
        done = subprocess.run([self.args.jobnode, "ui-user", "demo", "operator", "--cost", "8"], input=self.ui_password.encode(),
                              capture_output=True, timeout=60)
        if done.returncode != 0:
            raise DemoError(f"jobnode ui-user → exit {done.returncode}: {done.stderr.decode().strip()}")
        return done.stdout.decode().strip()

    def jobnode(self, *argv, json_out=False):
        cmd = [self.args.jobnode] + list(argv)
        done = subprocess.run(cmd, capture_output=True, env=self.node_env, timeout=60)
        if done.returncode != 0:
            raise DemoError(f"jobnode {' '.join(argv)} → exit {done.returncode}: {done.stderr.decode().strip()}")
        text = done.stdout.decode()
        return json.loads(text) if json_out else text

    def psql(self, sql):
        done = subprocess.run([self.args.psql, "-X", "-A", "-t", "-q", "-d", self.args.database, "-c", sql],
                              capture_output=True, timeout=30)
        if done.returncode != 0:
            raise DemoError(f"psql: {done.stderr.decode().strip()}")
        return done.stdout.decode().strip()

    # -- HTTP ------------------------------------------------------------------------------------------------------

    def http(self, method, url, body=None, headers=None, raw=None, retry_refused=False):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None and raw is None:
            request.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        except (urllib.error.URLError, OSError) as error:
            if not retry_refused:
                raise DemoError(f"{method} {url}: {error}")
            return 0, None
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def api(self, method, path, body=None, node=0, headers=None):
        h = {"Authorization": f"Bearer {self.api_key}"}
        h.update(headers or {})
        return self.http(method, f"http://127.0.0.1:{self.http_ports[node]}{path}", body, h)

    def form(self, base, path, fields, key):
        data = urllib.parse.urlencode(fields).encode()
        return self.http("POST", base + path, raw=data, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded",
            "Idempotency-Key": secrets.token_hex(8)})

    def plaid(self, path, body):
        body = dict(body, client_id=self.plaid_client_id, secret=self.plaid_secret)
        status, answer = self.http("POST", self.plaid_base + path, body, {"Plaid-Version": "2020-09-14"})
        if status != 200:
            raise DemoError(f"Plaid {path} → {status}: {answer}")
        return answer

    def wait(self, what, condition, timeout=90):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoError(f"timed out waiting for {what}")
            time.sleep(0.2)  # other processes' state, read through their interfaces: polled

    def job(self, job_id, node=0):
        status, record = self.api("GET", f"/v1/jobs/{job_id}", node=node)
        return record if status == 200 else None

    def await_job(self, job_id, what, node=0, timeout=90):
        def done():
            r = self.job(job_id, node)
            return r if r and r["state"] in TERMINAL else None
        record = self.wait(what, done, timeout)
        if record["state"] != "completed":
            raise DemoError(f"{what}: job {job_id} ended {record['state']}: {record.get('lastError')}")
        return record

    # -- the day ---------------------------------------------------------------------------------------------------

    def run(self):
        self.setup()
        self.link_items()
        self.plaid_webhook()
        self.billing()
        self.stripe_webhooks()
        self.report()
        self.limits_and_breakers()
        self.settle()
        if self.args.screenshots:
            self.screenshots()
        self.print_summary()

    def setup(self):
        env = dict(os.environ)
        if self.real_plaid:
            self.plaid_base = os.environ.get("PLAID_BASE_URL", "https://sandbox.plaid.com")
            self.plaid_client_id, self.plaid_secret = os.environ["PLAID_CLIENT_ID"], os.environ["PLAID_SECRET"]
            self.step(f"Plaid: the real sandbox ({self.plaid_base})")
        else:
            port = self.start_fake("fake-plaid", [os.path.join(FAKES, "fake-plaid.py")])
            self.plaid_base = f"http://127.0.0.1:{port}"
            self.plaid_client_id, self.plaid_secret = PLAID_CLIENT_ID, PLAID_SECRET
            env.update({"PLAID_ENV": "sandbox", "PLAID_CLIENT_ID": PLAID_CLIENT_ID, "PLAID_SECRET": PLAID_SECRET,
                        "PLAID_BASE_URL": self.plaid_base})
            self.step(f"Plaid: the fake Plaid API (scripts/fakes/fake-plaid.py) at {self.plaid_base}, pid {self.children[-1][1].pid}")
        if self.real_stripe:
            self.stripe_base = "https://api.stripe.com"
            self.stripe_key = os.environ["STRIPE_SECRET_KEY"]
            self.stripe_raw = None
            self.webhook_secret = os.environ.get("STRIPE_WEBHOOK_SECRET")
            self.step("Stripe: test mode (api.stripe.com)")
        else:
            upstream = self.start_fake("localstripe", [os.path.join(FAKES, "localstripe-run.py")])
            front = self.start_fake("fake-stripe", [os.path.join(FAKES, "fake-stripe.py"), "--secret-key", STRIPE_FAKE_KEY,
                                                    "--upstream", f"http://127.0.0.1:{upstream}"])
            self.stripe_raw = f"http://127.0.0.1:{upstream}"
            self.stripe_base = f"http://127.0.0.1:{front}"
            self.stripe_key = STRIPE_FAKE_KEY
            self.webhook_secret = "whsec_demo_" + secrets.token_hex(8)
            env.update({"STRIPE_SECRET_KEY": STRIPE_FAKE_KEY, "STRIPE_API_BASE": self.stripe_base,
                        "STRIPE_PUBLISHABLE_KEY": "pk_test_demo", "STRIPE_WEBHOOK_SECRET": self.webhook_secret})
            self.step(f"Stripe: localstripe (PyPI) at {self.stripe_raw}, behind the fake Stripe front "
                      f"(scripts/fakes/fake-stripe.py) at {self.stripe_base}")
        mail = self.start_fake("fake-sendgrid", [os.path.join(FAKES, "fake-sendgrid.py"), "--api-key", "SG.demo"])
        self.mail_base = f"http://127.0.0.1:{mail}"
        self.step(f"Email: the fake SendGrid (scripts/fakes/fake-sendgrid.py) at {self.mail_base}")

        self.plans = self.make_plans()
        self.http_ports = [free_port(), free_port()]
        env.update({
            "REDIS_URL": self.args.redis, "DATABASE_URL": self.args.database,
            "JOBKIT_API_KEYS": f"demo:{self.api_key}",
            "JOBKIT_UI_USERS": self.ui_user_entry(),
            "JOBKIT_TOKEN_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "PLAID_WEBHOOK_URL": f"http://127.0.0.1:{self.http_ports[0]}/webhooks/plaid",
            "STRIPE_PLANS": ",".join(f"{k}:{v}" for k, v in self.plans.items()),
            "SENDGRID_API_BASE": self.mail_base, "SENDGRID_API_KEY": "SG.demo",
            "JOBKIT_NOTIFY_FROM": "alerts@finance.example", "JOBKIT_NOTIFY_SIGNING_KEY": secrets.token_hex(16),
        })
        self.node_env = env
        self.step("jobnode migrate")
        for line in self.jobnode("migrate", "--database", self.args.database).strip().splitlines():
            self.info(line)
        for i, name in enumerate(("node-a", "node-b")):
            proc = self.start_node(name, self.http_ports[i], env)
            self.step(f"{name}: jobnode run (the seed's queues, 8 slots) with HTTP on 127.0.0.1:{self.http_ports[i]}, pid {proc.pid}")
        nodes = [proc for name, proc in self.children if name.startswith("node-")]
        for i, proc in enumerate(nodes):
            def ready(i=i, proc=proc):
                if proc.poll() is not None:
                    raise DemoError(f"node {i} exited with {proc.returncode}; see {self.logs}/node-{'ab'[i]}.log")
                return self.http("GET", f"http://127.0.0.1:{self.http_ports[i]}/health/ready", retry_refused=True)[0] == 200
            self.wait(f"node {i} to serve", ready, 60)
        base = f"http://127.0.0.1:{self.http_ports[0]}"
        self.step(f"While it runs: the API at {base}/v1 (Authorization: Bearer {self.api_key}), "
                  f"{base}/health/detailed, {base}/metrics, {base}/webhooks/health")
        self.step(f"The dashboard: {base}/ui (user demo, password {self.ui_password}; an operator)")
        if self.stripe_raw:
            # localstripe delivers its own events (subscriptions, invoices) to node A, signed with the secret.
            status, answer = self.form(self.stripe_raw, "/_config/webhooks/demo",
                                       [("url", f"{base}/webhooks/stripe"), ("secret", self.webhook_secret)], self.stripe_key)
            if status != 200:
                raise DemoError(f"localstripe webhook config → {status}: {answer}")

    def make_plans(self):
        if self.real_stripe:
            plans = os.environ.get("STRIPE_PLANS")
            if not plans:
                raise DemoError("with a real STRIPE_SECRET_KEY, set STRIPE_PLANS=individual:price_…,family:price_… (test-mode prices)")
            return dict(p.split(":", 1) for p in plans.split(","))
        plans = {}
        for plan, amount in (("individual", 500), ("family", 1500)):
            self.form(self.stripe_raw, "/v1/products", [("id", f"prod_{plan}"), ("name", plan), ("type", "service")], self.stripe_key)
            status, price = self.form(self.stripe_base, "/v1/prices", [
                ("product", f"prod_{plan}"), ("unit_amount", str(amount)), ("currency", "usd"), ("recurring[interval]", "month")],
                self.stripe_key)
            if status != 200:
                raise DemoError(f"price for {plan} → {status}: {price}")
            plans[plan] = price["id"]
        self.info("plans: " + ", ".join(f"{k} = {v}" for k, v in plans.items()))
        return plans

    def link_items(self):
        self.step("Two tenants link their banks (Plaid Link's public token → POST /v1/plaid/items → plaid.item.link)")
        self.items = {}
        for i, tenant in enumerate(TENANTS):
            token = self.plaid("/sandbox/public_token/create", {"institution_id": "ins_109508", "initial_products": ["transactions"]})
            status, answer = self.api("POST", "/v1/plaid/items", {"tenant": tenant, "publicToken": token["public_token"]}, node=i)
            if status != 202:
                raise DemoError(f"POST /v1/plaid/items → {status}: {answer}")
            record = self.await_job(answer["job"], f"{tenant}'s link", node=i)
            self.items[tenant] = json.loads(record["result"])["item"]
            self.info(f"{tenant}: item {self.items[tenant]} linked by job {answer['job']} on node {record['node']}")
        for tenant in TENANTS:
            self.wait(f"{tenant}'s first sync", lambda t=tenant: len(self.jobnode("plaid", "transactions", "--tenant", t, "--limit", "100000", "--json", json_out=True)) >= 3)
            accounts = self.jobnode("plaid", "accounts", "--tenant", tenant, "--json", json_out=True)
            txns = self.jobnode("plaid", "transactions", "--tenant", tenant, "--limit", "100000", "--json", json_out=True)
            self.info(f"{tenant}: {len(accounts)} accounts ({', '.join(a['name'] + ' ' + str(a['current']) for a in accounts)}), "
                      f"{len(txns)} transactions")

    def plaid_webhook(self):
        if self.real_plaid:
            self.step("Plaid webhook: skipped (Plaid's sandbox cannot reach a loopback node)")
            return
        tenant, item = "acme", self.items["acme"]
        self.step(f"Plaid has a month of new data for {tenant}: a signed SYNC_UPDATES_AVAILABLE webhook arrives")
        self.http("POST", f"{self.plaid_base}/_fake/items/{item}/transactions", {"count": 120, "seed": 7})
        status, fired = self.http("POST", f"{self.plaid_base}/_fake/items/{item}/fire_webhook", {"webhook_code": "SYNC_UPDATES_AVAILABLE"})
        if status != 200 or fired["status"] != 200:
            raise DemoError(f"the Plaid webhook was not accepted: {status} {fired}")
        self.info(f"POST /webhooks/plaid (Plaid-Verification: ES256 JWT) → {fired['status']} {json.dumps(fired['body'])}")
        # The same delivery tampered with: refused, nothing enqueued.
        body = json.dumps({"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": item}).encode()
        status, answer = self.http("POST", f"http://127.0.0.1:{self.http_ports[0]}/webhooks/plaid", raw=body,
                                   headers={"Content-Type": "application/json", "Plaid-Verification": "e30.e30.AAAA"})
        self.info(f"a forged one → {status} {answer['error']['code'] if isinstance(answer, dict) else answer}")
        self.summary["checks"]["plaidForgedRejected"] = status == 400
        txns = self.wait("the incremental sync", lambda: (lambda t: t if len(t) >= 123 else None)(
            self.jobnode("plaid", "transactions", "--tenant", tenant, "--limit", "100000", "--json", json_out=True)))
        by = {}
        for t in txns:
            if not t["pending"]:
                by[t["category"]] = by.get(t["category"], 0) + 1
        top = sorted(by.items(), key=lambda kv: -kv[1])[:5]
        self.info(f"{tenant}: {len(txns)} transactions, categorized: " + ", ".join(f"{k} {v}" for k, v in top))

    def billing(self):
        tenant = "acme"
        self.step(f"{tenant} subscribes to individual, then changes to family (the /v1/billing API, jobs on high_priority)")
        self.jobnode("notifications", "channels", "--tenant", tenant, "--email", "owner@acme.example")
        status, intent = self.api("POST", "/v1/billing/setup-intents", {"tenant": tenant})
        if status != 200:
            raise DemoError(f"setup intent → {status}: {intent}")
        self.customer = intent["customer"]
        self.info(f"setup intent {intent['setupIntent']} for customer {self.customer}")
        if self.stripe_raw:
            # What Stripe.js does in the browser: the card, then the intent's confirmation.
            status, card = self.form(self.stripe_raw, "/v1/payment_methods", [
                ("type", "card"), ("card[number]", "4242424242424242"), ("card[exp_month]", "12"),
                ("card[exp_year]", str(datetime.date.today().year + 3)), ("card[cvc]", "123")], self.stripe_key)
            pm = card["id"]
            self.form(self.stripe_raw, f"/v1/setup_intents/{intent['setupIntent']}/confirm", [("payment_method", pm)], self.stripe_key)
        else:
            pm = "pm_card_visa"
        status, job = self.api("POST", "/v1/jobs", {"name": "stripe.payment_method.attach", "queue": "high_priority",
                                                    "payload": {"tenant": tenant, "paymentMethod": pm}, "tenant": tenant})
        self.await_job(job["id"], "the card's attach")
        self.info(f"card {pm} attached as the default (job {job['id']})")
        status, answer = self.api("POST", "/v1/billing/subscriptions", {"tenant": tenant, "plan": "individual"},
                                  headers={"Idempotency-Key": "demo-subscribe-acme"})
        if status != 202:
            raise DemoError(f"subscribe → {status}: {answer}")
        record = self.await_job(answer["job"], "the subscription")
        self.subscription = json.loads(record["result"])["subscription"]
        self.info(f"subscription {self.subscription}: individual (job {answer['job']})")
        status, answer = self.api("POST", f"/v1/billing/subscriptions/{self.subscription}/plan", {"tenant": tenant, "plan": "family"}, node=1)
        if status != 202:
            raise DemoError(f"change plan → {status}: {answer}")
        self.await_job(answer["job"], "the plan change", node=1)
        rows = self.jobnode("billing", "subscriptions", "--tenant", tenant, "--json", json_out=True)
        self.info("PostgreSQL: " + "; ".join(f"{r['subscription']} plan {r['plan']} status {r['status']}" for r in rows))
        self.summary["checks"]["plan"] = rows[0]["plan"] if rows else None

    def stripe_webhooks(self):
        if not self.webhook_secret:
            self.step("Stripe webhook: skipped (no STRIPE_WEBHOOK_SECRET)")
            return
        self.step("Stripe: a signed invoice.payment_failed arrives twice (Stripe retries); one notification")
        now = int(time.time())
        event = {
            "id": "evt_demo_" + secrets.token_hex(8), "object": "event", "type": "invoice.payment_failed", "created": now,
            "api_version": "2024-06-20", "livemode": False, "pending_webhooks": 1,
            "data": {"object": {"id": "in_demo_" + secrets.token_hex(6), "object": "invoice", "customer": self.customer,
                                "status": "open", "amount_due": 1500, "amount_paid": 0, "currency": "usd",
                                "subscription": self.subscription}},
        }
        raw = json.dumps(event).encode()
        url = f"http://127.0.0.1:{self.http_ports[1]}/webhooks/stripe"
        answers = []
        for _ in range(2):
            sig = hmac.new(self.webhook_secret.encode(), f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
            status, answer = self.http("POST", url, raw=raw, headers={"Content-Type": "application/json",
                                                                       "Stripe-Signature": f"t={now},v1={sig}"})
            answers.append((status, answer))
            self.info(f"POST /webhooks/stripe → {status} duplicate={answer.get('duplicate')} job={answer.get('job')}")
        status, answer = self.http("POST", url, raw=raw, headers={"Content-Type": "application/json",
                                                                   "Stripe-Signature": f"t={now},v1={'0' * 64}"})
        self.info(f"the same body with a wrong signature → {status} {answer['error']['code']}")
        self.summary["checks"]["stripeDuplicateAnswered"] = answers[1][1].get("duplicate") is True
        self.summary["checks"]["stripeForgedRejected"] = status == 400
        self.await_job(answers[0][1]["job"], "the event's handling", node=1)
        rows = self.wait("the payment_failed notification", lambda: [
            n for n in self.jobnode("notifications", "list", "--tenant", "acme", "--all", "--json", json_out=True)
            if n["kind"] == "payment_failed" and n["outcome"] == "sent"])
        self.info(f"notification {rows[0]['notification']}: \"{rows[0]['title']}\" (inbox and email)")
        status, mails = self.http("GET", f"{self.mail_base}/_fake/mails")
        failed = [m for m in mails if m["subject"] == rows[0]["title"]]
        self.info(f"the fake SendGrid has {len(failed)} mail(s) with that subject, to {', '.join(sorted({m['to'] for m in failed}))}")
        self.summary["checks"]["paymentFailedNotifications"] = len(rows)
        self.summary["checks"]["paymentFailedMails"] = len(failed)

    def report(self):
        tenant = "acme"
        first = datetime.date.today().replace(day=1)
        month = (first - datetime.timedelta(days=1)).strftime("%Y-%m")
        self.step(f"{tenant}'s monthly report for {month} (reports.monthly, as the monthly schedule's fan-out enqueues it)")
        status, job = self.api("POST", "/v1/jobs", {"name": "reports.monthly", "queue": "reports",
                                                    "payload": {"tenant": tenant, "month": month}, "tenant": tenant})
        if status != 201:
            raise DemoError(f"POST /v1/jobs → {status}: {job}")
        self.await_job(job["id"], "the report")
        report = json.loads(self.jobnode("reports", "show", "--tenant", tenant, "--month", month, "--format", "json"))
        svg = self.jobnode("reports", "show", "--tenant", tenant, "--month", month, "--format", "svg")
        path = os.path.join(self.out, f"report-{tenant}-{month}.svg")
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
        self.info(f"spending {report['spending']}, income {report['income']}, net {report['net']}; by category: "
                  + ", ".join(f"{c['category']} {c['amount']}" for c in report["byCategory"][:5]))
        self.info(f"stored in PostgreSQL as JSON, CSV and SVG; the chart is at {path}")
        self.summary["checks"]["reportCategories"] = len(report["byCategory"])
        self.summary["checks"]["reportSVG"] = svg.lstrip().startswith("<svg") or svg.lstrip().startswith("<?xml")

    def limits_and_breakers(self):
        self.step("Limits and breakers, as operators see them (jobnode limits list, jobnode breakers)")
        for line in self.jobnode("limits", "list").rstrip().splitlines():
            self.info(line)
        # Each node publishes its breakers every 5 s: wait for the first publication that counted the calls so far.
        try:
            self.wait("the breakers' publication", lambda: any(
                b.get("calls", 0) > 0 for b in self.jobnode("breakers", "--json", json_out=True)), 12)
        except DemoError:
            pass
        for line in self.jobnode("breakers").rstrip().splitlines():
            self.info(line)

    def settle(self):
        """Waits until no job is ready, active or retrying; collects the summary."""
        def queues():
            rows = self.jobnode("queues", "--json", json_out=True)
            busy = sum(r.get(k, 0) for r in rows for k in ("ready", "active", "retrying"))
            return rows if busy == 0 else None
        rows = self.wait("every job to finish", queues, 90)
        for r in rows:
            self.summary["jobs"][r["name"]] = {k: r.get(k, 0) for k in ("scheduled", "ready", "active", "retrying", "completed", "dead", "canceled")}
        dead = []
        for r in rows:
            if r.get("dead"):
                dead += self.jobnode("jobs", "list", "--queue", r["name"], "--state", "dead", "--json", json_out=True)
        self.summary["deadJobs"] = [{"id": d["id"], "name": d["name"], "error": d.get("lastError")} for d in dead]
        # Scheduled jobs left: each one's name and why it waits.
        scheduled = []
        for r in rows:
            if r.get("scheduled"):
                scheduled += self.jobnode("jobs", "list", "--queue", r["name"], "--state", "scheduled", "--json", json_out=True)
        self.summary["scheduledJobs"] = [{"id": s["id"], "name": s["name"], "runAtMs": s.get("runAtMs"), "error": s.get("lastError")} for s in scheduled]
        tables = self.psql("select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'").split(",")
        for table in tables:
            if table and table != "jobkit_migrations":
                self.summary["tables"][table] = int(self.psql(f'select count(*) from "{table}"'))
        status, hooks = self.api("GET", "/webhooks/health")
        for provider, h in (hooks or {}).get("providers", {}).items():
            self.summary["webhooks"][provider] = {"received": h["received"], "accepted": h["accepted"], "rejected": h["rejected"]}
        self.summary["seconds"] = round(time.monotonic() - self.started, 1)

    def screenshots(self):
        """Adds a few dead jobs (a failing job, outside the day's checks), then has headless Chromium photograph every
        dashboard page at 1280x800 (scripts/check-dashboard.py --screenshots)."""
        ids = self.jobnode("enqueue", "jobkit.fail", "--queue", "default", "--json", '{"times": -1}',
                           "--max-attempts", "2", "--count", "3").split()
        def all_dead():
            rows = {r["name"]: r for r in self.jobnode("queues", "--json", json_out=True)}
            return rows.get("default", {}).get("dead", 0) >= 3
        self.wait("the failing jobs to go dead", all_dead, 90)
        # Nodes write the metrics history with their heartbeats (every 5 s): let one pass so the charts show these jobs.
        time.sleep(6)
        base = f"http://127.0.0.1:{self.http_ports[0]}"
        tenant = TENANTS[0]
        argv = [sys.executable, os.path.join(HERE, "..", "check-dashboard.py"), "--url", base,
                "--operator", f"demo:{self.ui_password}", "--screenshots", self.args.screenshots,
                "--job", ids[0], "--queue", "default", "--tenant", tenant]
        done = subprocess.run(argv, capture_output=True, timeout=300)
        if done.returncode != 0:
            raise DemoError(f"screenshots → exit {done.returncode}: {done.stderr.decode().strip()[-2000:]}")
        self.step(f"Screenshots of the dashboard in {self.args.screenshots}")

    def print_summary(self):
        s = self.summary
        self.step("Summary")
        print("    rows per table")
        for table, n in sorted(s["tables"].items()):
            print(f"      {table:<32} {n:>6}")
        print("    jobs per queue and state")
        states = ("scheduled", "ready", "active", "retrying", "completed", "dead", "canceled")
        print("      " + f"{'queue':<18}" + "".join(f"{x:>11}" for x in states))
        for queue, counts in sorted(s["jobs"].items()):
            print("      " + f"{queue:<18}" + "".join(f"{counts[x]:>11}" for x in states))
        print("    webhooks (last hour)")
        for provider, h in sorted(s["webhooks"].items()):
            rejected = ", ".join(f"{k} {v}" for k, v in h["rejected"].items() if v) or "none"
            print(f"      {provider:<8} received {h['received']}, accepted {h['accepted']}, rejected: {rejected}")
        for job in s["scheduledJobs"]:
            print(f"    waiting in scheduled: {job['name']} {job['id']} ({job['error'] or 'delayed'})")
        for job in s["deadJobs"]:
            print(f"    DEAD: {job['name']} {job['id']}: {job['error']}")
        print(f"    {s['seconds']} s")
        if self.args.summary:
            with open(self.args.summary, "w", encoding="utf-8") as f:
                json.dump(s, f, indent=2, sort_keys=True)


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv):
    parser = argparse.ArgumentParser(description="The finance backend's day (see the module docstring).")
    parser.add_argument("--jobnode", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--psql", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--summary")
    parser.add_argument("--screenshots")
    args = parser.parse_args(argv)
    demo = Demo(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        demo.run()
        return 0
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr)
        print(f"demo: the processes' logs are in {demo.logs}", file=sys.stderr)
        return 1
    finally:
        demo.stop_all()


if __name__ == "__main__":
    import urllib.parse  # noqa: F401  (form encoding)
    sys.exit(main(sys.argv[1:]))
