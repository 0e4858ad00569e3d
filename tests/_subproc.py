"""Run Python code in a fresh child process: a crash guard, a clean Numba state, another environment.

A segfault in a kernel (an out-of-bounds write Numba did not check) kills the
process it runs in; run in a child, it becomes a negative return code that the
test reports with the case's name instead of killing the whole pytest run.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, env=None, timeout=300, cwd=None):
    """Run ``python -c code`` from the repository root; returns the CompletedProcess (text mode).

    env : extra environment variables (merged into os.environ; a value of None removes one).
    """
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    for key, val in (env or {}).items():
        if val is None:
            full_env.pop(key, None)
        else:
            full_env[key] = str(val)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def describe(proc, what):
    """A failure message naming what ran and how it ended (signal or exit status) with its stderr."""
    if proc.returncode < 0:
        how = f"was killed by signal {-proc.returncode} (a crash, e.g. an out-of-bounds access)"
    else:
        how = f"exited with status {proc.returncode}"
    return f"{what} {how}\n--- stderr ---\n{proc.stderr[-4000:]}"


def run_json(code, what, env=None, timeout=300):
    """Run code that prints one JSON document as its last stdout line; returns it, failing on a crash."""
    proc = run_python(code, env=env, timeout=timeout)
    assert proc.returncode == 0, describe(proc, what)
    return json.loads(proc.stdout.strip().splitlines()[-1])
