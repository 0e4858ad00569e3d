"""Recognise the book's functions, layers and networks defined in a notebook cell, by what they do.

A learner pastes the book's ``sigmoid``, ``Affine`` or ``TwoLayerNet`` into a
cell instead of importing it. ``substitute_definitions`` (called by the
notebook extension after each cell) looks at the names the cell bound and,
where one is the user's own function or class and behaves as the book's one,
rebinds the name to fastscratch's counterpart, which gives the same numbers
faster (and reaches the incremental numerical gradient).

"Behaves as" is decided by running both on small inputs built for the case
(``fastscratch._substitution.probes``): the same results (dtype, shape, values within the
float64 tolerance the project's tests use, NaN, infinities and the sign of
zero where they fall), the same exceptions, the same writes to the arguments,
the same random draws. A definition that differs on any of them (a
cross-entropy without the book's ``+ 1e-7``, a softmax without the overflow
guard, a ReLU that drops NaN) runs as written. Probing saves and restores
NumPy's global random state, swallows what the definition prints (a definition
that prints is not the book's) and never touches the user's objects: every
input is a fresh array.
"""
import dis
import importlib
import types

from fastscratch._substitution import probes as _probes

#: What each of the book's names may be answered with, tried in order: "module:name".
COUNTERPARTS = {
    "step_function": ("fastscratch.functions:step_function",),
    "sigmoid": ("fastscratch.functions:sigmoid",),
    "sigmoid_grad": ("fastscratch.functions:sigmoid_grad",),
    "relu": ("fastscratch.functions:relu",),
    "relu_grad": ("fastscratch.functions:relu_grad",),
    "softmax": ("fastscratch.functions:softmax",),
    "cross_entropy_error": ("fastscratch.functions:cross_entropy_error",),
    "mean_squared_error": ("fastscratch.functions:mean_squared_error",),
    "sum_squared_error": ("fastscratch.functions:sum_squared_error",),
    # common/gradient.py's nditer loop, then ch04/gradient_2d.py's rows, then ch04/gradient_1d.py's
    "numerical_gradient": ("fastscratch.gradient:numerical_gradient",
                           "fastscratch.gradient:numerical_gradient_2d",
                           "fastscratch.gradient:numerical_gradient_1d"),
    "Relu": ("fastscratch.layers:Relu",),
    "Sigmoid": ("fastscratch.layers:Sigmoid",),
    "Affine": ("fastscratch.layers:Affine",),
    "SoftmaxWithLoss": ("fastscratch.layers:SoftmaxWithLoss",),
    "Dropout": ("fastscratch.layers:Dropout",),
    "BatchNormalization": ("fastscratch.layers:BatchNormalization",),
    "Convolution": ("fastscratch.layers:Convolution",),
    "Pooling": ("fastscratch.layers:Pooling",),
    # chapter 5's (layers) first: chapter 4's (functions) shares its construction, not its predict
    "TwoLayerNet": ("fastscratch.two_layer_net:TwoLayerNet",
                    "fastscratch.ch04_two_layer_net:TwoLayerNet"),
    "MultiLayerNet": ("fastscratch.multi_layer_net:MultiLayerNet",),
    "MultiLayerNetExtend": ("fastscratch.multi_layer_net_extend:MultiLayerNetExtend",),
}

_WRITES_GLOBALS = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})


def _resolve(target):
    module_name, name = target.split(":")
    return getattr(importlib.import_module(module_name), name)


def reference_twin(target):
    """fastscratch.reference's definition behind target ("fastscratch.layers:Affine" -> the reference's Affine).

    The probe compares the user's definition with the twin: it is NumPy only,
    so probing compiles no kernel, and that each fast definition gives the
    twin's numbers is what the project's equivalence tests check.
    """
    return _resolve(target.replace("fastscratch.", "fastscratch.reference.", 1))


def _code_objects(obj):
    """The code objects of a function or of a class's functions, nested ones (lambdas, comprehensions) included."""
    if isinstance(obj, type):
        functions = [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
        functions += [v.__func__ for v in vars(obj).values() if isinstance(v, (staticmethod, classmethod))]
    else:
        functions = [obj]
    stack = [f.__code__ for f in functions]
    while stack:
        code = stack.pop()
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def _candidate(obj, namespace):
    """Whether obj is a function or class of the user's own code that probing may run.

    Only plain functions and classes of plain ``object`` defined in the user's
    namespace qualify; a definition that writes module globals (``global``)
    changes the user's state when run and is left alone.
    """
    if isinstance(obj, type):
        if obj.__bases__ != (object,):
            return False
    elif not isinstance(obj, types.FunctionType):
        return False
    if getattr(obj, "__module__", None) not in ("__main__", namespace.get("__name__")):
        return False
    return not any(ins.opname in _WRITES_GLOBALS
                   for code in _code_objects(obj) for ins in dis.get_instructions(code))


def _has_instances(cls, namespace):
    # Objects already made from the user's class would stop being instances of
    # the name once it is rebound (isinstance in later cells): keep the user's class.
    return any(isinstance(v, cls) for v in list(namespace.values()))


def _counterpart(name, obj):
    """(target, fastscratch's object) that behaves as obj under the book's name, or None."""
    for target in COUNTERPARTS.get(name, ()):
        fast = _resolve(target)
        if isinstance(obj, type):
            # the user's public methods must all be there, or a later cell calling one would fail
            own = {k for k in vars(obj) if not k.startswith("_")}
            if not own <= set(dir(fast)):
                continue
        if _probes.behaves_as(name, _probes.on_reference(obj), reference_twin(target)) is None:
            return target, fast
    return None


def substitute_definitions(namespace, names, *, notice):
    """Rebind each of names that is the user's copy of one of the book's definitions to fastscratch's.

    Parameters
    ----------
    namespace : dict
        The user's namespace (a notebook's globals), changed in place.
    names : iterable of str
        The names a cell bound.
    notice : callable, notice(line: str)
        Called once per substitution with a line saying what was substituted
        and how to switch substitution off.

    Returns
    -------
    dict of str to str
        {name: "fastscratch.module.Name"} for each name rebound; empty when
        ``FASTSCRATCH_SUBSTITUTE=0``.
    """
    from fastscratch._substitution.switches import SUBSTITUTE_ENV, substitution_enabled

    if not substitution_enabled():
        return {}
    done = {}
    # functions first: a pasted network probes with the cell's functions as they are then
    for name in sorted(set(names), key=lambda n: (isinstance(namespace.get(n), type), n)):
        obj = namespace.get(name)
        if name not in COUNTERPARTS or not _candidate(obj, namespace):
            continue
        if isinstance(obj, type) and _has_instances(obj, namespace):
            continue
        try:
            found = _counterpart(name, obj)
        except Exception:  # a definition the probe cannot even copy or compare runs as written
            found = None
        if found is None:
            continue
        target, namespace[name] = found
        done[name] = target.replace(":", ".")
        notice(f"fastscratch: your {name} behaves as the book's; it now runs as {done[name]} "
               f"(same numbers, faster; {SUBSTITUTE_ENV}=0 keeps your own)")
    return done
