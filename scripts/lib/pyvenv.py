"""One pinned PyPI package in a venv kept under .build/, for the helper scripts (check-prometheus.py,
check-stripe-signatures.py, fakes/fake-plaid.py). Standard library only; import it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))  # from scripts/
    import pyvenv

ensure() re-executes the calling script with the venv's python (the venv made under a file lock, <venv>.lock, on
first use, and the package pip-installed into it) unless it is already running there with package==version importable.
The environment variable `marker_env` says how far that got: unset (not in the venv yet), "1" (in the venv),
"installed" (in the venv after installing the package; if it still does not import, exit 1 with a message).
"""
import os
import subprocess
import sys


def _locked(venv, fn):
    import fcntl
    os.makedirs(os.path.dirname(os.path.abspath(venv)), exist_ok=True)
    with open(os.path.abspath(venv) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first launches at once must not build the venv twice
        return fn()


def ensure(package, version, venv_env_var, default_dir, marker_env, *, module=None, prog=None, script=None,
           argv=None):
    """Returns the venv's path ($venv_env_var, else default_dir) once running in it with package==version importable
    (as `module`, default: package with "-" → "_"); otherwise re-executes `script argv` (default: this process's
    sys.argv) with the venv's python and does not return. Messages are prefixed with `prog` (default: the script's
    name without .py)."""
    venv = os.environ.get(venv_env_var, default_dir)
    module = module or package.replace("-", "_")
    script = script if script is not None else sys.argv[0]
    argv = list(argv) if argv is not None else sys.argv[1:]
    prog = prog or os.path.splitext(os.path.basename(script))[0]
    mark = os.environ.get(marker_env)
    if mark:
        try:
            import importlib
            from importlib.metadata import version as installed
            importlib.import_module(module)
            if installed(package) == version:
                return venv
        except Exception:
            pass
        if mark == "installed":
            sys.exit(f"{prog}: {package}=={version} is not importable in {venv} after installing it")
        os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        _locked(venv, lambda: subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"{package}=={version}"],
                                             check=True, stdout=sys.stderr, stdin=subprocess.DEVNULL))
        os.environ[marker_env] = "installed"
        os.execv(sys.executable, [sys.executable, script] + argv)
    python = os.path.join(venv, "bin", "python3")

    def make():
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True, stdout=sys.stderr,
                           stdin=subprocess.DEVNULL)
    _locked(venv, make)
    os.environ[marker_env] = "1"
    os.execv(python, [python, os.path.abspath(script)] + argv)
