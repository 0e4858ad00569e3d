"""The environment of a child process that must import this same fastscratch, installed or not."""
import os

#: The folder that holds this fastscratch package (site-packages, or a source checkout).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def importing_this_fastscratch(env=None):
    """A copy of env (default: this process's environment) with PACKAGE_PARENT first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    return env
