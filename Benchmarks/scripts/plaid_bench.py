#!/usr/bin/env python3
"""Driver of Benchmarks/scripts/plaid-bench (which starts the servers and passes BENCH_* variables)."""
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

HTTP = os.environ["BENCH_HTTP"]
FAKE = os.environ["BENCH_FAKE"]
CLIENT = {"client_id": os.environ["PLAID_CLIENT_ID"], "secret": os.environ["PLAID_SECRET"]}
QUEUE = "medium_priority"


def call(url, body=None, method=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    request.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def plaid(path, body):
    return call(FAKE + path, {**CLIENT, **body}, headers={"Plaid-Version": "2020-09-14"})


def psql(sql):
    out = subprocess.run(
        [os.environ["BENCH_PSQL"], "-h", "127.0.0.1", "-p", os.environ["BENCH_PG_PORT"], "-U", "postgres", "-Atc", sql],
        check=True, capture_output=True, text=True).stdout
    return out.strip()


def job(job_id):
    return call(f"{HTTP}/v1/jobs/{job_id}?queue={QUEUE}")


def wait_job(job_id, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        record = job(job_id)
        if record["state"] in ("completed", "dead", "canceled"):
            return record
        time.sleep(0.02)
    sys.exit(f"plaid-bench: job {job_id} did not finish")


def wait_for(what, predicate, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    sys.exit(f"plaid-bench: timed out waiting for {what}")


def public_token():
    return plaid("/sandbox/public_token/create", {"institution_id": "ins_109508", "initial_products": ["transactions"]})["public_token"]


def initial():
    n = int(os.environ["BENCH_TRANSACTIONS"])
    runs = int(os.environ["BENCH_RUNS"])
    linked = call(f"{HTTP}/v1/plaid/items", {"tenant": "bench", "publicToken": public_token()})
    record = wait_job(linked["job"])
    item = json.loads(record["result"])["item"]
    wait_for("the first sync", lambda: psql("SELECT count(*) FROM plaid_items WHERE cursor IS NOT NULL") == "1")
    wait_for("the accounts", lambda: psql("SELECT count(*) FROM accounts") == "3")
    call(f"{FAKE}/_fake/items/{item}/transactions", {"count": n, "seed": 1})
    rates = []
    for run in range(1, runs + 1):
        psql("DELETE FROM transactions; UPDATE plaid_items SET cursor = NULL")
        psql("VACUUM ANALYZE transactions")
        start = time.time()
        queued = call(f"{HTTP}/v1/jobs", {"name": "plaid.transactions.sync", "payload": {"tenant": "bench", "item": item},
                                          "queue": QUEUE, "tenant": "bench"})
        record = wait_job(queued["id"])
        wall = time.time() - start
        if record["state"] != "completed":
            sys.exit(f"plaid-bench: the sync ended {record['state']}: {record.get('lastError')}")
        rows = int(psql("SELECT count(*) FROM transactions WHERE NOT removed"))
        if rows != n:
            sys.exit(f"plaid-bench: {rows} rows after the sync, expected {n}")
        result = json.loads(record["result"])
        job_seconds = (record["finishedAtMs"] - record["startedAtMs"]) / 1000
        rates.append(n / job_seconds)
        print(json.dumps({"bench": "plaid.initial_sync", "run": run, "rows": rows, "pages": result["pages"],
                          "job_s": round(job_seconds, 3), "wall_s": round(wall, 3),
                          "rows_per_s_job": round(n / job_seconds), "rows_per_s_wall": round(n / wall)}), flush=True)
    print(f"initial sync of {n:,} transactions: {', '.join(f'{r:,.0f}' for r in rates)} rows/s "
          f"(median {statistics.median(rates):,.0f})", flush=True)


def many():
    items = int(os.environ["BENCH_ITEMS"])
    rounds = int(os.environ["BENCH_ROUNDS"])
    tokens = [public_token() for _ in range(items)]
    start = time.time()
    for i in range(0, items, 1000):
        call(f"{HTTP}/v1/jobs:batch", {"jobs": [
            {"name": "plaid.item.link", "payload": {"tenant": f"tenant-{j % 50}", "publicToken": t}, "queue": QUEUE,
             "tenant": f"tenant-{j % 50}"} for j, t in enumerate(tokens[i:i + 1000], start=i)]})
    wait_for("every item's first sync",
             lambda: psql("SELECT count(*) FROM plaid_items WHERE cursor IS NOT NULL") == str(items)
             and psql("SELECT count(*) FROM accounts") == str(3 * items))
    linked = time.time() - start
    rows = psql("SELECT count(*) FROM transactions")
    print(json.dumps({"bench": "plaid.many_items.link_and_sync", "items": items, "wall_s": round(linked, 2),
                      "items_per_s": round(items / linked, 1), "transactions": int(rows)}), flush=True)
    # A burst: every item asked for `rounds` more syncs at once (no dedupe: each is a job), so the per-item
    # limits (50/min, one at a time) decide the pace.
    item_rows = psql("SELECT tenant_id || ' ' || item_id FROM plaid_items").splitlines()
    burst = [{"name": "plaid.transactions.sync", "payload": {"tenant": t, "item": i}, "queue": QUEUE, "tenant": t}
             for _ in range(rounds) for t, i in (r.split(" ") for r in item_rows)]
    start = time.time()
    ids = []
    for i in range(0, len(burst), 1000):
        ids += [j["id"] for j in call(f"{HTTP}/v1/jobs:batch", {"jobs": burst[i:i + 1000]})["jobs"]]
    for job_id in ids:
        wait_job(job_id)
    burst_s = time.time() - start
    calls = call(f"{FAKE}/_fake/calls?endpoint=/transactions/sync")
    by_item = {}
    for c in calls:
        by_item.setdefault(c["item_id"], []).append(c["at_ms"])
    largest = 0
    for times in by_item.values():
        times.sort()
        lo = 0
        for hi in range(len(times)):
            while times[hi] - times[lo] >= 60_000:
                lo += 1
            largest = max(largest, hi - lo + 1)
    all_calls = call(f"{FAKE}/_fake/calls")
    throttled = sum(1 for c in all_calls if c["status"] == 429)
    dead = sum(1 for job_id in ids if job(job_id)["state"] != "completed")
    print(json.dumps({"bench": "plaid.many_items.burst", "items": items, "syncs": len(ids), "wall_s": round(burst_s, 2),
                      "syncs_per_s": round(len(ids) / burst_s, 1), "largest_per_item_syncs_in_60s": largest,
                      "plaid_429s": throttled, "plaid_calls": len(all_calls), "not_completed": dead}), flush=True)
    print(f"{items:,} items linked and synced by two nodes in {linked:.1f} s; burst of {len(ids):,} syncs in {burst_s:.1f} s; "
          f"largest per-item rate {largest} syncs in 60 s (limit 50); Plaid 429s: {throttled}", flush=True)


if __name__ == "__main__":
    {"initial": initial, "many": many}[os.environ["BENCH_PHASE"]]()
