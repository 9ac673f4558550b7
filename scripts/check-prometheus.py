#!/usr/bin/env python3
"""Parses Prometheus text exposition with the reference client's parser (prometheus_client).

    check-prometheus.py --prepare     make sure the venv exists (scripts/test runs this while Swift builds)
    check-prometheus.py < metrics.txt print the parsed families as JSON; exit 1 with the parser's
                                      error when the text does not parse

The parser (prometheus-client, pinned below) lives in a venv at $JOBKIT_PROM_VENV
(default .build/prometheus-venv), made on first use from PyPI.
"""
import json
import os
import subprocess
import sys

VERSION = "0.21.1"
VENV = os.environ.get("JOBKIT_PROM_VENV", os.path.join(os.path.dirname(__file__), "..", ".build", "prometheus-venv"))


def ensure_client():
    try:
        import prometheus_client  # noqa: F401
        if prometheus_client.__dict__.get("__version__", VERSION) == VERSION or os.environ.get("JOBKIT_PROM_IN_VENV"):
            return
    except ImportError:
        if os.environ.get("JOBKIT_PROM_IN_VENV"):
            sys.exit(f"check-prometheus: prometheus-client=={VERSION} is not importable in {VENV}")
    python = os.path.join(VENV, "bin", "python3")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True, stdout=sys.stderr)
    subprocess.run([python, "-m", "pip", "install", "-q", f"prometheus-client=={VERSION}"], check=True, stdout=sys.stderr)
    os.environ["JOBKIT_PROM_IN_VENV"] = "1"
    os.execv(python, [python] + sys.argv)


def main():
    ensure_client()
    if "--prepare" in sys.argv:
        print(f"prometheus-client {VERSION} ready in {VENV}")
        return
    from prometheus_client.parser import text_string_to_metric_families

    text = sys.stdin.read()
    families = {}
    try:
        for family in text_string_to_metric_families(text):
            families[family.name] = {
                "type": family.type,
                "help": family.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
            }
    except Exception as error:  # the parser raises ValueError and others on malformed text
        sys.exit(f"check-prometheus: the text does not parse: {error!r}")
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
