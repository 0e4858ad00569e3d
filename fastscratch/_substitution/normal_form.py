"""The normal form of a module's syntax tree: what stays the same across the book's editions.

Editions and translations of the book's files differ in more than comments:
docstrings are translated, the ``sys.path`` line is written another way
(``sys.path.append(os.pardir)`` or ``os.path.join(os.path.dirname(__file__),
'..')``), ``import numpy as np`` is there or not (the star import of the
book's ``common`` modules hands out ``np`` too), and local variables are
renamed or misspelled. None of that changes what the file's classes do, so
the normal form leaves it out:

* bare string statements (docstrings) are dropped;
* at module level, the imports of ``sys``, ``os`` and ``numpy``, statements
  calling ``sys.path.<method>(...)`` and imports of names the module never
  reads are dropped, and the remaining imports are sorted to the top, each once;
* inside each function, its local variables (assigned there, not parameters,
  not declared global or nonlocal) are renamed ``_v0``, ``_v1``, ... in order
  of first appearance, and a lambda's parameters ``_l0``, ... (a function's
  parameters are its interface and keep their names); a nested scope's names
  carry its depth (``_v1_0``, ``_l1_0``) so that they never meet an outer one's.

Everything else (every formula, constant, attribute, parameter name and
default) is kept, so a file whose code does something else has another normal
form. Whatever the normal form lets through is then checked by running the
class (``fastscratch._substitution.book_networks.probe``).
"""
import ast

_DROPPED_MODULES = frozenset({"sys", "os", "numpy"})


def strip_strings(tree):
    """Drop bare string statements (docstrings and the like: they do nothing) from every body."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                body[:] = [s for s in body if not (isinstance(s, ast.Expr)
                                                   and isinstance(s.value, ast.Constant)
                                                   and isinstance(s.value.value, str))]
    return tree


def _is_sys_path_call(stmt):
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    func = stmt.value.func
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)
            and func.value.attr == "path" and isinstance(func.value.value, ast.Name)
            and func.value.value.id == "sys")


def _bound(alias):
    return alias.asname or alias.name.split(".")[0]


def _imports(tree):
    """tree's module level: imports of sys/os/numpy, sys.path calls and unread imports dropped, the rest first."""
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    imports, rest = [], []
    for stmt in tree.body:
        if _is_sys_path_call(stmt):
            continue
        if isinstance(stmt, ast.Import):
            stmt.names = [a for a in stmt.names
                          if a.name.split(".")[0] not in _DROPPED_MODULES and _bound(a) in read]
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module.split(".")[0] in _DROPPED_MODULES:
            stmt.names = []
        elif isinstance(stmt, ast.ImportFrom):
            stmt.names = [a for a in stmt.names if a.name == "*" or _bound(a) in read]
        else:
            rest.append(stmt)
            continue
        if stmt.names:
            imports.append(stmt)
    # sorted, and each once: importing a name again binds the same object again
    imports = list({ast.unparse(stmt): stmt for stmt in imports}.items())
    tree.body = [stmt for _, stmt in sorted(imports, key=lambda item: item[0])] + rest
    return tree


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _own_nodes(body):
    """The nodes of a function body in source order, not entering nested functions, classes or lambdas."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _parameters(args):
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs
            + [a for a in (args.vararg, args.kwarg) if a is not None]]


class _Renamer(ast.NodeTransformer):
    """Renames each function's locals and each lambda's parameters in order of first appearance."""

    def __init__(self):
        self.scopes = []   # innermost last: {name: new name} (a name mapped to itself is not renamed)

    def _depth(self):
        # names of nested scopes carry their depth, so that they never meet an outer scope's
        return "" if not self.scopes else f"{len(self.scopes)}_"

    def _lookup(self, name):
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return name

    def visit_Name(self, node):
        node.id = self._lookup(node.id)
        return node

    def _visit_outer(self, node):
        # decorators, defaults and annotations are evaluated in the enclosing scope
        for field in ("decorator_list", "returns"):
            value = getattr(node, field, None)
            if isinstance(value, list):
                setattr(node, field, [self.visit(v) for v in value])
            elif value is not None:
                setattr(node, field, self.visit(value))
        node.args.defaults = [self.visit(d) for d in node.args.defaults]
        node.args.kw_defaults = [d if d is None else self.visit(d) for d in node.args.kw_defaults]

    def visit_FunctionDef(self, node):
        self._visit_outer(node)
        params = _parameters(node.args)
        nodes = list(_own_nodes(node.body))
        declared = {n for s in nodes if isinstance(s, (ast.Global, ast.Nonlocal)) for n in s.names}
        stored = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        local = stored - declared - set(params)
        order = dict.fromkeys(n.id for n in nodes if isinstance(n, ast.Name) and n.id in local)
        scope = {p: p for p in params}
        scope.update({name: f"_v{self._depth()}{i}" for i, name in enumerate(order)})
        scope.update({name: name for name in declared})
        self.scopes.append(scope)
        node.body = [self.visit(s) for s in node.body]
        self.scopes.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._visit_outer(node)
        params = _parameters(node.args)
        scope = {p: f"_l{self._depth()}{i}" for i, p in enumerate(params)}
        for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            a.arg = scope[a.arg]
        self.scopes.append(scope)
        node.body = self.visit(node.body)
        self.scopes.pop()
        return node

    def visit_ClassDef(self, node):
        # a class body's names are not seen by its methods: no scope of its own here
        return self.generic_visit(node)


def normal_form(tree):
    """tree (an ast.Module, changed in place) in the normal form described in this module's docstring."""
    return _Renamer().visit(_imports(strip_strings(tree)))
