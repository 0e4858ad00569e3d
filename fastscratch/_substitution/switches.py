"""What the substitution covers and how it is switched off: the book's module names and the environment switches."""
import os

#: modules of the book's ``common`` package that fastscratch provides
COMMON_MODULES = ("functions", "gradient", "layers", "util", "optimizer", "trainer",
                  "multi_layer_net", "multi_layer_net_extend")
#: modules of the book's ``dataset`` package that fastscratch provides
DATASET_MODULES = ("mnist",)


#: Environment variable: "0" runs the book's network files as written (as --no-substitute).
SUBSTITUTE_ENV = "FASTSCRATCH_SUBSTITUTE"
#: Environment variable: "0" leaves NumPy's removed aliases (np.int, ...) removed (as --no-compat).
COMPAT_ENV = "FASTSCRATCH_COMPAT"


def _switched_on(flag, env):
    """The flag, unless the environment variable env says 0 (or no, false, off)."""
    return flag and os.environ.get(env, "1").strip().lower() not in ("0", "no", "false", "off")


def substitution_enabled(substitute=True):
    """Whether book network files get fastscratch's classes: the flag, unless the environment says 0."""
    return _switched_on(substitute, SUBSTITUTE_ENV)


def compat_enabled(compat=True):
    """Whether NumPy's removed builtin aliases answer: the flag, unless the environment says 0."""
    return _switched_on(compat, COMPAT_ENV)
