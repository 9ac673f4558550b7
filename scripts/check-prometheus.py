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
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import pyvenv  # noqa: E402  (scripts/lib/pyvenv.py)

VERSION = "0.21.1"


def main():
    venv = pyvenv.ensure("prometheus-client", VERSION, "JOBKIT_PROM_VENV",
                         os.path.join(os.path.dirname(__file__), "..", ".build", "prometheus-venv"),
                         "JOBKIT_PROM_IN_VENV", prog="check-prometheus", script=__file__, argv=sys.argv[1:])
    if "--prepare" in sys.argv:
        print(f"prometheus-client {VERSION} ready in {venv}")
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
