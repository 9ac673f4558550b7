"""Formats jobnode's --json output for scripts/demo.

    demo_format.py counts          < queues.json   prints one line; exits 3 while jobs are pending
    demo_format.py outcome LABEL   < job.json      prints one job's outcome
"""
import json
import sys


def counts():
    rows = json.load(sys.stdin)
    parts = []
    for r in rows:
        if not any(r[k] for k in ("scheduled", "ready", "active", "retrying", "completed", "dead")):
            continue  # queues of the default schedules, idle here
        parts.append(
            "{name}: sched {scheduled} ready {ready} active {active} retry {retrying} done {completed} dead {dead}".format(**r)
        )
    print("  ".join(parts))
    pending = sum(r["scheduled"] + r["ready"] + r["active"] + r["retrying"] for r in rows)
    return 0 if pending == 0 else 3


def outcome(label):
    r = json.load(sys.stdin)
    line = "  {id}  {label:<28} {state:<10} attempts {attempts}/{maxAttempts}  node {node}".format(
        id=r["id"], label=label, state=r["state"], attempts=r["attempts"], maxAttempts=r["maxAttempts"],
        node=r["node"] or "-",
    )
    if r["lastError"]:
        line += "  last error: " + r["lastError"]
    print(line)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "counts":
        sys.exit(counts())
    sys.exit(outcome(sys.argv[2]))
