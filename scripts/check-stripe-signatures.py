#!/usr/bin/env python3
"""Stripe-Signature cases made and judged by the official `stripe` Python package, for JobKit's differential tests.

Usage
-----
    check-stripe-signatures.py --prepare
        Make sure the venv with stripe exists (scripts/test runs this while Swift builds); prints one line, exits 0.

    check-stripe-signatures.py --generate N [--seed S] [--now T]
        Print a JSON array of N cases plus, for about a third of them, a tampered variant (right after its original,
        one byte of the body changed, the body still valid UTF-8), so about 4N/3 entries. The same seed gives the same
        output. Each case:
          {"kind": "text" | "event" | "tampered",
           "body_base64": ...,       the raw body: random printable UTF-8 (ASCII, Latin-1, CJK, emoji, whitespace;
                                     0..4096 bytes, now and then JSON-ish), or a realistic Stripe event JSON with
                                     random ids (pretty-printed like Stripe's deliveries)
           "secrets": [...],         the endpoint secrets, `whsec_<random>`; usually one, sometimes 2-4 (as in
                                     STRIPE_WEBHOOK_SECRET=whsec_new,whsec_old) with the signing one among them
           "header": "t=...,v1=...", stripe.WebhookSignature.generate_signature_header(body, signing secret, timestamp=t)
           "now": T,                 a fixed now (default 1790000000); t = now - random 0..600 s
           "tolerance": 300,
           "expect_valid": bool,     what stripe.WebhookSignature.verify_header(body, header, secret, tolerance=300)
                                     says at `now`; with several secrets: valid if it passes for any of them
           "error": str | null}      the library's SignatureVerificationError message; with several secrets that all
                                     fail, the most specific one (a matching secret's "Timestamp outside the
                                     tolerance zone (t)" before "No signatures found matching ...")

    check-stripe-signatures.py --verify
        Read JSON lines on stdin, {"body_base64", "header", "secret", "now", "tolerance"} ("secrets": [...] may stand
        instead of "secret", judged as above; "header" and "tolerance" may be null), and print for each, flushed,
        {"valid": bool, "error": str | null}: verify_header run with time.time() fixed at `now` (patched in the
        library's module only, for that call). A SignatureVerificationError gives its message; anything else the
        library raises (a body that is not UTF-8 raises UnicodeDecodeError, verify_header decodes bytes strictly)
        gives valid false and "<ExceptionClass>: <message>". An input line that is not JSON or lacks fields is a
        fatal error (exit 2, message on stderr).

The library (stripe, pinned below as STRIPE_VERSION) lives in a venv at $JOBKIT_STRIPE_VENV (default
.build/stripe-venv of this repo), made from PyPI on first use under a file lock (<venv>.lock); the script re-executes
itself with the venv's python.

Semantics of stripe 16.1.0 (stripe/_webhook.py) worth knowing when comparing:
  - the signature is HMAC-SHA256 keyed by the whole secret string over "<t>.<body>", the body decoded as UTF-8;
  - the header is split on "," then each item on "=" (max 2 splits); the FIRST t= is used, parsed with Python int()
    (so "+5", " 5", "0_5" and non-ASCII digits parse too); an item without "=" named t or v1 makes the header
    malformed; keys are not trimmed (" v1=..." is not a v1 signature); schemes other than v1 are ignored;
  - the order of checks: no header → no secret → malformed → no v1 → no match → too old;
  - only staleness is checked (t < now - tolerance); a future t passes, and tolerance 0 or null disables the check.
"""
import argparse
import base64
import json
import os
import random
import string
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import pyvenv  # noqa: E402  (scripts/lib/pyvenv.py)

STRIPE_VERSION = "16.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
VENV_ENV = "JOBKIT_STRIPE_VENV"
VENV_DEFAULT = os.path.join(REPO, ".build", "stripe-venv")
VENV_MARK = "JOBKIT_STRIPE_IN_VENV"
DEFAULT_NOW = 1_790_000_000
TOLERANCE = 300
MISMATCH = "No signatures found matching the expected signature for payload"


# --- the official library ---------------------------------------------------------------------------------------------

class _FrozenTime:
    """Stands in for the `time` module inside stripe._webhook only."""

    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now


def verify_one(body, header, secret, now, tolerance):
    """(valid, error) from stripe.WebhookSignature.verify_header at `now`."""
    import stripe
    import stripe._webhook as webhook_module
    saved = webhook_module.time
    webhook_module.time = _FrozenTime(now)
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=tolerance)
        return True, None
    except stripe.SignatureVerificationError as error:
        return False, error.user_message
    except Exception as error:  # e.g. UnicodeDecodeError: the library decodes bytes bodies strictly
        return False, f"{type(error).__name__}: {error}"
    finally:
        webhook_module.time = saved


def verify_any(body, header, secrets, now, tolerance):
    """Valid if verify_header passes for any secret; else the most specific error (not the mismatch one if another
    secret got past the signature check: checks before it do not depend on the secret)."""
    errors = []
    for secret in secrets:
        valid, error = verify_one(body, header, secret, now, tolerance)
        if valid:
            return True, None
        errors.append(error)
    if not errors:
        return False, "no secrets"
    return False, next((e for e in errors if e != MISMATCH), errors[0])


# --- --generate -------------------------------------------------------------------------------------------------------

BASE62 = string.ascii_letters + string.digits
# Ranges of printable code points to draw from, with weights: ASCII dominates, then Latin-1, Greek/Cyrillic, CJK, emoji.
CHAR_RANGES = [
    (60, [(0x20, 0x7E)]),
    (6, [(0x09, 0x0A), (0x0D, 0x0D)]),  # tab, newline, carriage return
    (10, [(0xA1, 0xFF)]),
    (8, [(0x391, 0x3C9), (0x410, 0x44F)]),
    (8, [(0x4E00, 0x9FFF), (0x3040, 0x30FF)]),
    (8, [(0x1F300, 0x1F64F), (0x1F900, 0x1F9FF)]),
]
EVENT_TYPES = [
    ("customer.created", "cus", "customer"), ("customer.updated", "cus", "customer"),
    ("customer.subscription.created", "sub", "subscription"), ("customer.subscription.deleted", "sub", "subscription"),
    ("invoice.created", "in", "invoice"), ("invoice.payment_succeeded", "in", "invoice"),
    ("invoice.payment_failed", "in", "invoice"), ("payment_intent.succeeded", "pi", "payment_intent"),
    ("checkout.session.completed", "cs_test", "checkout.session"), ("charge.refunded", "ch", "charge"),
]
NAMES = ["Alice", "Bob", "Zoë Müller", "Łukasz Żółć", "山田太郎", "Renée 🎉", "Ἀθηνᾶ", "O'Brien \"Bobby\"", "\\back\\slash"]


def random_id(rng, prefix, length=24):
    return prefix + "_" + "".join(rng.choice(BASE62) for _ in range(length))


def random_secret(rng):
    if rng.random() < 0.8:
        return "whsec_" + "".join(rng.choice(BASE62) for _ in range(32))
    # the Stripe CLI's secrets are 64 hex digits; other lengths and characters for good measure
    if rng.random() < 0.5:
        return "whsec_" + "".join(rng.choice("0123456789abcdef") for _ in range(64))
    return "whsec_" + "".join(rng.choice(BASE62 + "+/=_-") for _ in range(rng.randint(1, 80)))


def random_char(rng):
    weights = [w for w, _ in CHAR_RANGES]
    ranges = rng.choices(CHAR_RANGES, weights=weights)[0][1]
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def random_text(rng, max_bytes):
    out, size = [], 0
    while True:
        ch = random_char(rng)
        n = len(ch.encode("utf-8"))
        if size + n > max_bytes:
            return "".join(out)
        out.append(ch)
        size += n


def random_text_body(rng):
    roll = rng.random()
    if roll < 0.04:
        return b""
    limit = rng.randint(0, 4096)
    if roll < 0.35:  # JSON-ish: an object of random strings, cut to the length (so sometimes not JSON at all)
        obj = {random_text(rng, 12) or "k": random_text(rng, rng.randint(0, 200)) for _ in range(rng.randint(1, 20))}
        text = json.dumps(obj, ensure_ascii=rng.random() < 0.3)
        data = text.encode("utf-8")[:limit]
        return data.decode("utf-8", errors="ignore").encode("utf-8")  # a cut in the middle of a character is dropped
    return random_text(rng, limit).encode("utf-8")


def random_event_body(rng, t):
    etype, prefix, obj_type = rng.choice(EVENT_TYPES)
    created = t - rng.randint(0, 5)
    obj = {"id": random_id(rng, prefix, 14), "object": obj_type, "created": created, "livemode": False,
           "metadata": {"user_id": str(rng.randint(1, 10_000))}}
    if obj_type == "customer":
        obj.update({"email": f"u{rng.randint(1, 999)}@example.com", "name": rng.choice(NAMES),
                    "customer": None})
    else:
        obj.update({"customer": random_id(rng, "cus", 14), "currency": rng.choice(["eur", "usd", "jpy"]),
                    "amount": rng.randint(0, 10**7), "description": rng.choice(NAMES + [None])})
    event = {"id": random_id(rng, "evt"), "object": "event", "api_version": rng.choice(["2017-08-15", "2024-06-20"]),
             "created": created, "data": {"object": obj}, "livemode": False, "pending_webhooks": rng.randint(1, 3),
             "request": {"id": random_id(rng, "req", 14), "idempotency_key": None}, "type": etype}
    text = json.dumps(event, indent=2, ensure_ascii=rng.random() < 0.5, sort_keys=rng.random() < 0.5)
    return (text + ("\n" if rng.random() < 0.3 else "")).encode("utf-8")


def tamper(rng, body):
    """One byte changed, the result still valid UTF-8: an ASCII byte becomes another printable ASCII byte, or the last
    byte of a multi-byte character flips its lowest bit (a final continuation byte has no further constraints)."""
    spots = [i for i, b in enumerate(body)
             if b < 0x80 or ((b & 0xC0) == 0x80 and (i + 1 == len(body) or (body[i + 1] & 0xC0) != 0x80))]
    if not spots:
        return None
    i = rng.choice(spots)
    data = bytearray(body)
    if data[i] < 0x80:
        data[i] = rng.choice([c for c in range(0x20, 0x7F) if c != data[i]])
    else:
        data[i] ^= 0x01
    data = bytes(data)
    data.decode("utf-8")  # asserts the promise above
    return data


def case(kind, body, secrets, header, now):
    valid, error = verify_any(body, header, secrets, now, TOLERANCE)
    return {"kind": kind, "body_base64": base64.b64encode(body).decode("ascii"), "secrets": secrets, "header": header,
            "now": now, "tolerance": TOLERANCE, "expect_valid": valid, "error": error}


def generate(count, seed, now):
    import stripe
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        t = now - rng.randint(0, 600)
        kind = "event" if rng.random() < 0.3 else "text"
        body = random_event_body(rng, t) if kind == "event" else random_text_body(rng)
        signing = random_secret(rng)
        secrets = [signing]
        if rng.random() < 0.3:
            secrets += [random_secret(rng) for _ in range(rng.randint(1, 3))]
            rng.shuffle(secrets)
        # generate_signature_header takes the body as str (it interpolates it into "<t>.<body>"; bytes would sign
        # "b'...'"), and verify_header decodes bytes as UTF-8: both see the same string.
        header = stripe.WebhookSignature.generate_signature_header(body.decode("utf-8"), signing, timestamp=t)
        cases.append(case(kind, body, secrets, header, now))
        if rng.random() < 1 / 3:
            tampered = tamper(rng, body)
            if tampered is not None:
                cases.append(case("tampered", tampered, secrets, header, now))
    return cases


# --- --verify ---------------------------------------------------------------------------------------------------------

def verify_lines(stdin, stdout):
    for number, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            query = json.loads(line)
            body = base64.b64decode(query["body_base64"], validate=True)
            if "secrets" in query:
                secrets = query["secrets"]
                if not isinstance(secrets, list):
                    raise TypeError("secrets must be an array")
            else:
                secrets = [query["secret"]]
            header, now, tolerance = query.get("header"), query["now"], query.get("tolerance")
        except (ValueError, KeyError, TypeError) as error:
            print(f"check-stripe-signatures: --verify: line {number} is not a valid query: {error!r}", file=sys.stderr)
            sys.exit(2)
        valid, error = verify_any(body, header, secrets, now, tolerance)
        stdout.write(json.dumps({"valid": valid, "error": error}) + "\n")
        stdout.flush()


def main(argv):
    parser = argparse.ArgumentParser(description="Stripe-Signature cases from the official stripe package "
                                                 "(see the module docstring).")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--prepare", action="store_true", help="make sure the venv exists, print one line, exit")
    mode.add_argument("--generate", type=int, metavar="N", help="print a JSON array of N cases (+ tampered variants)")
    mode.add_argument("--verify", action="store_true", help="judge JSON lines from stdin, one answer line each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--now", type=int, default=DEFAULT_NOW)
    args = parser.parse_args(argv)
    if args.generate is not None and args.generate < 0:
        parser.error("N must be ≥ 0")
    venv = pyvenv.ensure("stripe", STRIPE_VERSION, VENV_ENV, VENV_DEFAULT, VENV_MARK, prog="check-stripe-signatures",
                         script=__file__, argv=argv)
    if args.prepare:
        from importlib.metadata import version
        print(f"stripe {version('stripe')} ready in {venv}")
        return 0
    if args.verify:
        verify_lines(sys.stdin, sys.stdout)
        return 0
    json.dump(generate(args.generate, args.seed, args.now), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
