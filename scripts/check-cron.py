#!/usr/bin/env python3
"""Differential check of JobKit's cron fire times against Python's croniter 6.0.0.

Generates random valid five-field cron expressions (steps, ranges, lists, names, day-of-month and
day-of-week combinations) in UTC, America/New_York, Europe/London, Australia/Lord_Howe and Asia/Kolkata,
computes the next fire times of each with croniter, writes them to a vectors file, runs the Swift test
`CronDifferentialTests` on it and prints how many agree.

croniter is run with `implement_cron_bug=True`, which gives Vixie cron's day rule that JobKit follows:
day-of-month and day-of-week are OR-ed only when neither field starts with `*`. Start times carry pytz
zones: croniter's DST correction assumes pytz, and with zoneinfo zones it returns times an hour off
(times that don't even match the expression) whenever the result's UTC offset differs from the start's.

Fire times within an hour of a daylight-saving transition are allowed to differ (croniter and JobKit
handle skipped and repeated local times differently; see the summary); everything else must agree.

croniter itself is checked first by a small wall-clock oracle (every time it returns must match the
expression in local time, and no matching local time may lie between two of its results). Cases where
croniter fails that check, away from DST transitions, are marked `croniterError` in the vectors; the
Swift test reports JobKit's times for them instead of comparing, and this script checks those times with
the same oracle.

Usage:
    scripts/check-cron.py [--count 2000] [--seed 1] [--fires 10] [--vectors PATH] [--build] [--no-run]

The Swift tests must already be built with `swift build --build-tests --scratch-path .build-cron`
(or pass --build). croniter is installed into a venv under /tmp if it isn't importable.
Exits non-zero if any case disagrees away from a transition.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone

CRONITER_VERSION = "6.0.0"
VENV = os.environ.get("JOBKIT_CRON_VENV", "/tmp/jobkit-croniter-venv")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]


def ensure_croniter():
    """Re-executes the script under a venv that has croniter if this Python doesn't."""
    try:
        import croniter  # noqa: F401
        from importlib.metadata import version

        if version("croniter") == CRONITER_VERSION:
            return
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit(f"check-cron: croniter=={CRONITER_VERSION} is not importable in {VENV}")
    if not os.path.exists(python):
        print(f"check-cron: creating {VENV} with croniter=={CRONITER_VERSION}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", f"croniter=={CRONITER_VERSION}"], check=True)
    os.execv(python, [python] + sys.argv)


# --- Random expressions ------------------------------------------------------------------------

MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


class Field:
    def __init__(self, low, high, star_high=None, names=None, name_base=0):
        self.low, self.high = low, high
        self.star_high = star_high if star_high is not None else high  # end of `*` and `a/n`
        self.names, self.name_base = names, name_base

    def value(self, rng, v):
        """A value as a number, or sometimes as a name in random case."""
        if self.names and rng.random() < 0.4 and 0 <= v - self.name_base < len(self.names):
            name = self.names[v - self.name_base]
            return rng.choice([name, name.lower(), name.capitalize()])
        return str(v)

    def step(self, rng):
        span = self.star_high - self.low + 1  # JobKit rejects larger steps; croniter allows them
        return rng.choice([n for n in (1, 2, 2, 3, 3, 4, 5, 6, 7, 10, 15) if n <= span] + [rng.randint(1, span)])

    def range_pair(self, rng):
        a = rng.randint(self.low, self.high - 1)
        b = rng.randint(a + 1, self.high)  # a < b: croniter reads a-a as the whole field
        return a, b

    def item(self, rng):
        kind = rng.random()
        if kind < 0.45:
            return self.value(rng, rng.randint(self.low, self.high))
        a, b = self.range_pair(rng)
        if kind < 0.75:
            return f"{self.value(rng, a)}-{self.value(rng, b)}"
        return f"{a}-{b}/{self.step(rng)}"

    def generate(self, rng, star_weight=0.3):
        kind = rng.random()
        if kind < star_weight:
            return "*"
        kind = (kind - star_weight) / (1 - star_weight)
        if kind < 0.25:
            return self.value(rng, rng.randint(self.low, self.high))
        if kind < 0.40:
            a, b = self.range_pair(rng)
            return f"{self.value(rng, a)}-{self.value(rng, b)}"
        if kind < 0.60:
            return f"*/{self.step(rng)}"
        if kind < 0.70:
            a, b = self.range_pair(rng)
            return f"{a}-{b}/{self.step(rng)}"
        if kind < 0.78:
            # Not from the field's last value: croniter reads `max/n` as `max-max/n`, the whole field.
            return f"{rng.randint(self.low, self.star_high - 1)}/{self.step(rng)}"
        return ",".join(self.item(rng) for _ in range(rng.randint(2, 4)))


MINUTE = Field(0, 59)
HOUR = Field(0, 23)
DOM = Field(1, 31)
MONTH = Field(1, 12, names=MONTH_NAMES, name_base=1)
DOW = Field(0, 7, star_high=6, names=DAY_NAMES)


def random_expression(rng):
    minute = MINUTE.generate(rng, 0.15)
    hour = HOUR.generate(rng, 0.35)
    month = MONTH.generate(rng, 0.6)
    shape = rng.random()
    if shape < 0.3:  # only day-of-month restricted
        dom, dow = DOM.generate(rng, 0.0), rng.choice(["*", "*", "?"])
    elif shape < 0.55:  # only day-of-week restricted
        dom, dow = rng.choice(["*", "*", "?"]), DOW.generate(rng, 0.0)
    elif shape < 0.8:  # both: OR, or AND if one starts with `*`
        dom, dow = DOM.generate(rng, 0.0), DOW.generate(rng, 0.0)
    else:
        dom, dow = "*", "*"
    return f"{minute} {hour} {dom} {month} {dow}"


def never_fires(expr):
    """JobKit rejects these at parse time: with AND days, no selected day exists in a selected month."""
    from croniter import croniter

    fields = expr.split()
    if not (fields[2][0] in "*?" or fields[4][0] in "*?"):
        return False
    expanded, _ = croniter.expand(expr)
    days = range(1, 32) if expanded[2] == ["*"] else expanded[2]
    months = range(1, 13) if expanded[3] == ["*"] else expanded[3]
    longest = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
    return not any(d <= longest[m] for d in days for m in months)


# --- Start times ----------------------------------------------------------------------------

def transitions(zone, start_year=2024, end_year=2046):
    """UTC offset changes of a zone, found by scanning every 30 minutes and bisecting."""
    from zoneinfo import ZoneInfo

    z = ZoneInfo(zone)
    out = []
    t = datetime(start_year, 1, 1, tzinfo=timezone.utc)
    end = datetime(end_year, 1, 1, tzinfo=timezone.utc)
    previous = t.astimezone(z).utcoffset()
    while t < end:
        t2 = t + timedelta(minutes=30)
        offset = t2.astimezone(z).utcoffset()
        if offset != previous:
            lo, hi = t, t2
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(z).utcoffset() == previous:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, previous, offset))
            previous = offset
        t = t2
    return out


def random_start(rng, zone, zone_transitions):
    # Starts stay well before 2037: pytz (which croniter needs, see above) has no DST rules after 2037.
    nearby = [t for t in zone_transitions if t[0].year <= 2030]
    if nearby and rng.random() < 0.5:
        # Within two days before a transition, so the next fire times cross it.
        when, _, _ = rng.choice(nearby)
        ts = int(when.timestamp()) - rng.randint(0, 2 * 86400)
    else:
        ts = rng.randint(int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()),
                         int(datetime(2030, 12, 1, tzinfo=timezone.utc).timestamp()))
    if rng.random() < 0.3:
        ts -= ts % 60  # exactly on a minute: results must be strictly later
    return ts


# --- Wall-clock oracle ----------------------------------------------------------------------

class Oracle:
    """Checks fire times against the expression in local wall-clock time, away from DST transitions.

    It is deliberately simple (it walks day by day), and it only judges times more than an hour from a
    transition, where local time is unambiguous: every returned time must carry the zone's UTC offset and
    match the fields, and no matching local time may lie between the start and the first result, or
    between two results."""

    def __init__(self, expr, zone, zone_transitions):
        from croniter import croniter
        from zoneinfo import ZoneInfo

        fields = expr.split()
        expanded, _ = croniter.expand(expr)
        full = [range(60), range(24), range(1, 32), range(1, 13), range(7)]
        self.sets = [set(full[i]) if e == ["*"] else {0 if (i == 4 and v == 7) else v for v in e}
                     for i, e in enumerate(expanded)]
        self.day_and = fields[2][0] in "*?" or fields[4][0] in "*?"
        self.zone = ZoneInfo(zone)
        self.transitions = [when for when, _, _ in zone_transitions]

    def near_transition(self, aware):
        return any(abs((aware - when).total_seconds()) <= 3600 for when in self.transitions)

    def day_matches(self, d):
        minute, hour, dom, month, dow = self.sets
        if d.month not in month:
            return False
        by_dom, by_dow = d.day in dom, d.isoweekday() % 7 in dow
        return (by_dom and by_dow) if self.day_and else (by_dom or by_dow)

    def matches(self, wall):
        return (wall.second == 0 and wall.minute in self.sets[0] and wall.hour in self.sets[1]
                and self.day_matches(wall.date()))

    def first_match_between(self, after, before):
        """The first matching wall time t with after < t < before (naive datetimes), or None."""
        day = after.date()
        hours, minutes = sorted(self.sets[1]), sorted(self.sets[0])
        while day <= before.date():
            if self.day_matches(day):
                for h in hours:
                    for m in minutes:
                        t = datetime(day.year, day.month, day.day, h, m)
                        if t >= before:
                            return None
                        if t > after:
                            return t
            day += timedelta(days=1)
        return None

    def problems(self, start, times):
        """What is wrong with `times` as the fire times after `start` (ISO strings), away from transitions."""
        found = []
        points = [datetime.fromisoformat(start)] + [datetime.fromisoformat(t) for t in times]
        for t in points[1:]:
            if t.utcoffset() != t.astimezone(self.zone).utcoffset():
                found.append(f"{t.isoformat()} has the wrong UTC offset for {self.zone.key}")
            elif not self.near_transition(t) and not self.matches(t.replace(tzinfo=None)):
                found.append(f"{t.isoformat()} doesn't match the expression")
        for p, q in zip(points, points[1:]):
            # Wall-clock candidates near a transition are ambiguous (skipped or repeated); judge the rest.
            skipped = self.first_match_between(p.replace(tzinfo=None), q.replace(tzinfo=None))
            if skipped and not self.near_transition(skipped.replace(tzinfo=self.zone)):
                found.append(f"skips {skipped.replace(tzinfo=self.zone).isoformat()} between {p.isoformat()} "
                             f"and {q.isoformat()}")
        return found


# --- Main -----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="random expressions (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fires", type=int, default=10, help="fire times per expression (default 10)")
    parser.add_argument("--vectors", default=os.path.join(tempfile.gettempdir(), "jobkit-cron-vectors.json"))
    parser.add_argument("--build", action="store_true", help="build the tests first")
    parser.add_argument("--no-run", action="store_true", help="only write the vectors file")
    args = parser.parse_args()

    ensure_croniter()
    import pytz  # a dependency of croniter
    from croniter import croniter

    rng = random.Random(args.seed)
    zone_transitions = {z: transitions(z) for z in ZONES}
    vectors, skipped, dropped = [], Counter(), []
    while len(vectors) < args.count:
        expr = random_expression(rng)
        if never_fires(expr):
            skipped["never fires"] += 1
            continue
        zone = rng.choice(ZONES)
        start = datetime.fromtimestamp(random_start(rng, zone, zone_transitions[zone]), pytz.timezone(zone))
        try:
            it = croniter(expr, start, implement_cron_bug=True)
            expected = [it.get_next(datetime).isoformat() for _ in range(args.fires)]
        except Exception as error:  # croniter refuses something: note it and move on
            skipped[f"croniter {type(error).__name__}"] += 1
            dropped.append(f"'{expr}' {zone} after {start.isoformat()}: {type(error).__name__}: {error}")
            continue
        vector = {"expr": expr, "tz": zone, "from": start.isoformat(), "expected": expected}
        problems = Oracle(expr, zone, zone_transitions[zone]).problems(vector["from"], expected)
        if problems:
            vector["croniterError"] = "; ".join(problems)
        vectors.append(vector)

    with open(args.vectors, "w") as f:
        json.dump(vectors, f, indent=1)
    print(f"check-cron: {len(vectors)} expressions x {args.fires} fire times (seed {args.seed}) -> {args.vectors}")
    if skipped:
        print(f"check-cron: generated and dropped: {dict(skipped)}")
        for line in dropped[:5]:
            print(f"  dropped: {line}")
    if args.no_run:
        return 0

    scratch = ["--scratch-path", ".build-cron"]
    if args.build:
        subprocess.run(["swift", "build", "--build-tests"] + scratch, cwd=REPO, check=True)
    report_path = args.vectors + ".report.json"
    if os.path.exists(report_path):
        os.remove(report_path)
    env = dict(os.environ, JOBKIT_CRON_VECTORS=args.vectors, JOBKIT_CRON_REPORT=report_path)
    test = subprocess.run(
        ["swift", "test", "--skip-build"] + scratch + ["--disable-xctest", "--filter", "CronDifferential"],
        cwd=REPO, env=env, capture_output=True, text=True)
    if not os.path.exists(report_path):
        print(test.stdout[-4000:], test.stderr[-4000:], sep="\n")
        print("check-cron: the Swift test wrote no report (did it run? build with --build)")
        return 1
    with open(report_path) as f:
        report = json.load(f)
    return summarize(report, zone_transitions, test.returncode)


def classify(d, zone_transitions):
    """Names the transitions a DST-edge disagreement sits on: 'gap' (spring forward) or 'overlap'."""
    times = set(d["expected"]) ^ set(d["ours"])
    kinds = set()
    for text in times:
        t = datetime.fromisoformat(text)
        for when, before, after in zone_transitions.get(d["tz"], []):
            if abs((t - when).total_seconds()) <= 3600:
                kinds.add("gap" if after > before else "overlap")
    return "+".join(sorted(kinds)) or "?"


def summarize(report, zone_transitions, returncode):
    cases, agreed = report["cases"], report["agreed"]
    edge, other, wrong = report["dstEdge"], report["disagreed"], report["croniterWrong"]
    print(f"check-cron: {cases} cases: {agreed} agree, {len(edge)} differ only within an hour of a DST "
          f"transition, {len(wrong)} where croniter is wrong (not compared), {len(other)} differ elsewhere")
    if edge:
        kinds = Counter((d["tz"], classify(d, zone_transitions)) for d in edge)
        for (tz, kind), n in sorted(kinds.items()):
            print(f"  DST edge: {n:4d} in {tz} ({kind})")
        for kind in ("gap", "overlap"):
            examples = [d for d in edge if classify(d, zone_transitions) == kind][:2]
            for d in examples:
                ours, theirs = set(d["ours"]), set(d["expected"])
                print(f"  e.g. {kind}: '{d['expr']}' {d['tz']} after {d['from']}")
                print(f"       croniter only: {sorted(theirs - ours)}")
                print(f"       JobKit only:   {sorted(ours - theirs)}")
    jobkit_problems = []
    if wrong:
        def kind(error):
            first = error.split("; ")[0]
            return ("returns non-matching times" if "doesn't match" in first
                    else "returns a wrong UTC offset" if "offset" in first else "skips matching times")
        kinds = Counter(kind(d["error"]) for d in wrong)
        print(f"  croniter wrong: {dict(kinds)}")
        for d in wrong:
            problems = Oracle(d["expr"], d["tz"], zone_transitions[d["tz"]]).problems(d["from"], d["ours"])
            if problems:
                jobkit_problems.append((d, problems))
        print(f"  JobKit's times for those cases pass the oracle: {len(wrong) - len(jobkit_problems)} of {len(wrong)}")
        for k in ("returns non-matching times", "returns a wrong UTC offset", "skips matching times"):
            for d in [d for d in wrong if kind(d["error"]) == k][:2]:
                print(f"  e.g. '{d['expr']}' {d['tz']} after {d['from']}: croniter {d['error'].split('; ')[0]}")
                print(f"       croniter: {d['expected'][:4]}...")
                print(f"       JobKit:   {d['ours'][:4]}...")
    for d, problems in jobkit_problems[:20]:
        print(f"  JOBKIT PROBLEM: '{d['expr']}' {d['tz']} after {d['from']}: {problems}")
    for d in other[:20]:
        print(f"  DIFFERENT: '{d['expr']}' {d['tz']} after {d['from']}{' error: ' + d['error'] if d.get('error') else ''}")
        print(f"       croniter: {d['expected']}")
        print(f"       JobKit:   {d['ours']}")
    ok = not other and not jobkit_problems and returncode == 0
    if returncode != 0 and not other:
        print("check-cron: the Swift test failed; run it by hand to see why")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
