"""The package's import graph: imports run one way (public -> implementation -> kernels), with no cycle.

Every ``import`` in every module of the package counts, those inside
functions included: a cycle kept working only by a late import is still a
cycle. docs/layout.md is the map these tiers follow.
"""
import ast
import os

import fastscratch

PACKAGE_DIR = os.path.dirname(os.path.abspath(fastscratch.__file__))

#: The book's public modules and the public API chosen beside them: the package's top level.
PUBLIC = {"functions", "gradient", "layers", "optimizer", "trainer", "util", "two_layer_net",
          "ch04_two_layer_net", "multi_layer_net", "multi_layer_net_extend", "simple_convnet",
          "deep_convnet"}

#: Each part of the package and its tier: a module imports only from its own part or a lower tier.
TIERS = {
    "reference": 0, "dataset": 0, "kernels": 0,
    "_core": 1, "_runtime": 2, "_layers": 3, "_numgrad": 4, "_network": 5,
    "public": 6,        # the modules in PUBLIC and the package itself (fastscratch/__init__.py)
    "_substitution": 7,
    "_apps": 8, "search": 8, "__main__": 8,
}

#: What the command-line apps may import: public names, the runtime and the substitution machinery,
#: and the kernels' modules themselves (``warmup`` fills their cache, ``sysinfo`` reports on it).
APPS_MAY_IMPORT = {"public", "reference", "dataset", "kernels", "_runtime", "_substitution", "_apps", "search"}

#: Upward edges that are there on purpose.
ALLOWED_UP = {
    # IPython finds an extension by its package name: `%load_ext fastscratch` calls the package's
    # load_ipython_extension, which imports the extension only when it is called.
    ("fastscratch", "fastscratch._apps.notebook"),
}


def _modules():
    """{dotted module name: path} for every module of the package."""
    out = {}
    parent = os.path.dirname(PACKAGE_DIR)
    for root, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, name), parent)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(root, name)
    return out


MODULES = _modules()


def _package_of(module, path):
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def _imports(module, path):
    """The modules of the package that ``module`` imports, anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package_of(module, path).split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _part(module):
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in PUBLIC:
        return "public"
    return parts[1]


def test_every_module_has_a_tier():
    assert {_part(m) for m in MODULES} <= set(TIERS), {_part(m) for m in MODULES} - set(TIERS)


def test_imports_run_one_way():
    wrong = [(a, b) for a, targets in GRAPH.items() for b in targets
             if _part(a) != _part(b) and TIERS[_part(b)] > TIERS[_part(a)] and (a, b) not in ALLOWED_UP]
    assert not wrong, f"imports against the tiers (module, what it imports): {sorted(wrong)}"


def test_no_import_cycle():
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for n in sorted(GRAPH[m]):
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_apps_use_the_public_names():
    wrong = [(a, b) for a, targets in GRAPH.items() if _part(a) == "_apps"
             for b in targets if _part(b) not in APPS_MAY_IMPORT]
    assert not wrong, f"apps reaching past the public modules: {sorted(wrong)}"


def test_kernels_and_reference_stand_alone():
    for m, targets in GRAPH.items():
        if _part(m) in ("kernels", "reference", "dataset"):
            assert {_part(t) for t in targets} <= {_part(m)} | ({"dataset"} if _part(m) == "reference" else set()), (m, targets)


def test_top_level_is_small():
    top = [name for name in os.listdir(PACKAGE_DIR) if name.endswith(".py")]
    assert len(top) <= 16, sorted(top)
    assert set(top) - {"__init__.py", "__main__.py", "search.py"} == {f"{m}.py" for m in PUBLIC}


def test_the_graph_sees_imports_inside_functions():
    # the closure-gradient module imports the incremental one inside a function only
    assert "fastscratch._numgrad.incremental" in GRAPH["fastscratch._numgrad.closure"]
