#!/usr/bin/env python3
"""Checks deploy/: every Kubernetes manifest parses (PyYAML, pinned, in a venv under .build/), every jobnode command
line in the manifests, systemd units and supervisord config uses a subcommand and flags that `jobnode <cmd> --help`
lists, and every stop timeout is above the command's --grace.

    check-deploy.py --jobnode PATH [--deploy DIR]     prints one line per checked command; exit 1 with the problems
    check-deploy.py --prepare                         make the venv and exit
"""
import argparse
import configparser
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import pyvenv  # noqa: E402

REPO = os.path.dirname(HERE)
PYYAML_VERSION = "6.0.2"


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", text.strip())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2) or "s"
    return {"ms": n / 1000, "s": n, "m": n * 60, "h": n * 3600}[unit]


class Checker:
    def __init__(self, jobnode):
        self.jobnode, self.helps, self.problems, self.checked = jobnode, {}, [], 0

    def flags(self, sub):
        if sub not in self.helps:
            out = subprocess.run([self.jobnode, sub, "--help"], capture_output=True, text=True)
            if out.returncode != 0:
                self.helps[sub] = None
            else:
                self.helps[sub] = set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout))
        return self.helps[sub]

    def command(self, where, argv):
        """argv: the jobnode arguments (after the binary). Returns the --grace in seconds (run's default when not given)."""
        self.checked += 1
        if not argv:
            self.problems.append(f"{where}: no subcommand")
            return 0
        sub, rest = argv[0], argv[1:]
        grace = 30 if sub == "run" else 0  # `run --grace` defaults to 30 s; `serve` only finishes in-flight requests
        known = self.flags(sub)
        if known is None:
            self.problems.append(f"{where}: `jobnode {sub}` is not a subcommand")
            return grace
        for i, arg in enumerate(rest):
            if not arg.startswith("--"):
                continue
            name, _, value = arg.partition("=")
            if name not in known:
                self.problems.append(f"{where}: `jobnode {sub}` has no flag {name}")
            if name == "--grace":
                value = value or (rest[i + 1] if i + 1 < len(rest) else "")
                grace = seconds(value) or 0
        print(f"ok: {where}: jobnode {' '.join(argv)}")
        return grace

    def stop_timeout(self, where, timeout, grace):
        if timeout is None or timeout <= grace:
            self.problems.append(f"{where}: the stop timeout ({timeout}) must be above --grace ({grace} s)")


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobnode")
    parser.add_argument("--deploy", default=os.path.join(REPO, "deploy"))
    parser.add_argument("--prepare", action="store_true")
    args = parser.parse_args(argv)
    pyvenv.ensure("PyYAML", PYYAML_VERSION, "JOBKIT_YAML_VENV", os.path.join(REPO, ".build", "yaml-venv"), "JOBKIT_YAML_IN_VENV",
                  module="yaml", prog="check-deploy", script=os.path.abspath(__file__), argv=argv)
    if args.prepare:
        print(f"check-deploy: PyYAML {PYYAML_VERSION} ready")
        return 0
    import yaml
    c = Checker(args.jobnode)

    manifests = sorted(glob.glob(os.path.join(args.deploy, "kubernetes", "*.yaml")))
    if not manifests:
        c.problems.append("no Kubernetes manifests")
    for path in manifests:
        name = os.path.relpath(path, args.deploy)
        try:
            docs = [d for d in yaml.safe_load_all(open(path)) if d]
        except yaml.YAMLError as error:
            c.problems.append(f"{name}: does not parse: {error}")
            continue
        for doc in docs:
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                c.problems.append(f"{name}: a document without kind/apiVersion")
                continue
            if doc["kind"] != "Deployment":
                continue
            spec = doc["spec"]["template"]["spec"]
            grace_period = spec.get("terminationGracePeriodSeconds", 30)
            for container in spec.get("initContainers", []) + spec["containers"]:
                if "jobnode" not in container.get("image", ""):
                    continue
                where = f"{name}: {doc['metadata']['name']}/{container['name']}"
                grace = c.command(where, [str(a) for a in container.get("args", [])])
                if container in spec["containers"]:
                    c.stop_timeout(where, grace_period, grace)
                    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/health/ready")):
                        got = container.get(probe, {}).get("httpGet", {}).get("path")
                        if got != path:
                            c.problems.append(f"{where}: {probe} should GET {path}, not {got}")

    for path in sorted(glob.glob(os.path.join(args.deploy, "systemd", "*.service"))):
        name = os.path.relpath(path, args.deploy)
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(path)
        service = unit["Service"]
        grace = 0
        for key in ("ExecStartPre", "ExecStart"):
            if key in service:
                words = service[key].split()
                if not words[0].endswith("/jobnode"):
                    c.problems.append(f"{name}: {key} does not run jobnode")
                    continue
                g = c.command(f"{name} {key}", words[1:])
                if key == "ExecStart":
                    grace = g
        c.stop_timeout(name, seconds(service.get("TimeoutStopSec", "")), grace)
        if service.get("KillSignal") != "SIGTERM":
            c.problems.append(f"{name}: KillSignal must be SIGTERM (a node drains on it)")

    for path in sorted(glob.glob(os.path.join(args.deploy, "supervisord", "*.conf"))):
        name = os.path.relpath(path, args.deploy)
        conf = configparser.ConfigParser(strict=False, interpolation=None)
        conf.read(path)
        for section in conf.sections():
            words = conf[section]["command"].split()
            grace = c.command(f"{name} [{section}]", [re.sub(r"%\(\w+\)\d*\w", "0", w) for w in words[1:]])
            c.stop_timeout(f"{name} [{section}]", seconds(conf[section].get("stopwaitsecs", "10")), grace)

    if c.checked == 0:
        c.problems.append("no jobnode command found")
    for problem in c.problems:
        print(f"problem: {problem}")
    print(f"check-deploy: {c.checked} commands checked, {len(c.problems)} problems")
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
