"""Recognising the book's own network files (fastscratch._substitution.book_networks): fingerprints and the probe.

The book's files are read from ../shared/book-networks as data (tests skip where
it is absent); editions are made from them here by changing what does not
change the code (comments, blank lines, docstrings, the coding line) and what
does (an edited number or operator).
"""
import io
import os
import re
import sys
import tokenize

import numpy as np
import pytest
from _paths import book_network

from fastscratch._substitution import book_networks as bn
from fastscratch._substitution import probes as _probes
from fastscratch._substitution import runner

FILES = ["ch04/two_layer_net.py", "ch05/two_layer_net.py", "ch07/simple_convnet.py", "ch08/deep_convnet.py"]

# One edit of the arithmetic or of a constant per file: the edited file does something else.
EDITS = {
    "ch04/two_layer_net.py": ("dy = (y - t) / batch_num", "dy = (y - t) / (2 * batch_num)"),
    "ch05/two_layer_net.py": ("return self.lastLayer.forward(y, t)", "return 2 * self.lastLayer.forward(y, t)"),
    "ch07/simple_convnet.py": ("self.layers['Relu2'] = Relu()", "self.layers['Relu2'] = Sigmoid()"),
    "ch08/deep_convnet.py": ("Dropout(0.5)", "Dropout(0.25)"),
}


def read(name):
    with open(book_network(name), encoding="utf-8") as f:
        return f.read()


def without_comments(source):
    """source with every comment token removed (the code tokens and line structure kept)."""
    tokens = [tok for tok in tokenize.generate_tokens(io.StringIO(source).readline)
              if tok.type != tokenize.COMMENT]
    return tokenize.untokenize(tokens)


def another_edition(source):
    """The same code as another edition or translation might print it."""
    out = []
    for line in without_comments(source).splitlines():
        stripped = line.strip()
        if stripped.startswith("def "):
            out += ["", "    # 다른 판의 주석", ""]    # blank lines and a comment before each method
        if stripped.startswith("self.params[") and stripped.endswith(")"):
            line += "  # 매개변수"                    # a translated end-of-line comment
        out.append(line if line.endswith("\\") else line.rstrip() + "   ")   # trailing blanks
    text = "\n".join(out)
    text = text.replace('"""', '"""Translated: ', 1)  # a different first docstring, where there is one
    return text.replace("\n", "\r\n")               # and Windows line ends


@pytest.mark.parametrize("name", FILES)
def test_book_file_is_recognised(name):
    book = bn.recognise(read(name).encode("utf-8"))
    assert book is not None and book.file == name
    assert book.class_name in read(name)


@pytest.mark.parametrize("name", FILES)
def test_comments_blank_lines_docstrings_and_coding_line_do_not_matter(name):
    source = read(name)
    assert source.startswith("# coding: utf-8\n")
    variants = [source[len("# coding: utf-8\n"):], without_comments(source), another_edition(source),
                "# -*- coding: utf-8 -*-\n" + source]
    for variant in variants:
        assert bn.recognise(variant) == bn.recognise(source), variant[:200]


def test_docstrings_are_left_out_of_the_fingerprint():
    source = read("ch07/simple_convnet.py")
    stripped = source.replace('"""損失関数を求める\n        引数のxは入力データ、tは教師ラベル\n        """', "")
    assert stripped != source
    assert bn.fingerprint(stripped) == bn.fingerprint(source)


@pytest.mark.parametrize("name", FILES)
def test_edited_code_is_not_recognised(name):
    source = read(name)
    old, new = EDITS[name]
    assert old in source
    assert bn.recognise(source.replace(old, new)) is None
    assert bn.recognise(source + "\nEXTRA = 1\n") is None
    assert bn.recognise(source.replace("np.random.randn", "np.random.rand", 1)) is None


def test_not_python_is_not_recognised():
    assert bn.fingerprint("def broken(:\n") is None
    assert bn.recognise("class TwoLayerNet:\n    pass\n") is None


def test_fingerprint_table_names_the_four_files():
    assert sorted(b.file for b in bn.KNOWN.values()) == FILES
    for book in bn.KNOWN.values():
        assert os.path.splitext(os.path.basename(book.file))[0] in bn.MODULE_NAMES


@pytest.fixture
def load_book_class(monkeypatch, tmp_path):
    """Load a book file's module under the book import hook (common.* from fastscratch), as `run` does."""
    monkeypatch.setattr(sys, "meta_path", [runner.BookImportHook()] + list(sys.meta_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    loaded = []

    def load(name, source=None):
        import importlib.util
        path = tmp_path / name.replace("/", "_")
        path.write_text(source if source is not None else read(name), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"book_{len(loaded)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded.append(module)
        return module

    yield load
    for name in [m for m in sys.modules if m.split(".")[0] in ("common", "dataset")]:
        del sys.modules[name]


@pytest.mark.parametrize("name", FILES)
def test_probe_finds_book_and_fast_class_equal(name, load_book_class):
    book = bn.recognise(read(name))
    fast = bn.fast_class(book)
    assert fast is not None, f"{book.fast} is missing from fastscratch"  # every book network has its class
    module = load_book_class(name)
    np.random.seed(7)
    state = np.random.get_state()
    assert bn.probe(book, getattr(module, book.class_name), fast) is None
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state, after))   # the script's draws are unchanged


def test_probe_sees_each_kind_of_difference(load_book_class):
    book = bn.recognise(read("ch05/two_layer_net.py"))
    fast = bn.fast_class(book)

    class ExtraDraw(fast):
        def __init__(self, *args, **kwargs):
            np.random.rand()
            super().__init__(*args, **kwargs)

    class OtherGradient(fast):
        def gradient(self, x, t):
            grads = super().gradient(x, t)
            grads["b2"] = grads["b2"] * (1 + 2 ** -40)
            return grads

    class DrawsAfter(fast):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            np.random.rand()

    class Raises(fast):
        def loss(self, x, t):
            raise RuntimeError("no loss here")

    module = load_book_class("ch05/two_layer_net.py")
    cls = module.TwoLayerNet
    assert bn.probe(book, cls, ExtraDraw) == "params differs from the book's class"
    assert bn.probe(book, cls, OtherGradient) == "gradient differs from the book's class"
    assert bn.probe(book, cls, DrawsAfter) == "random state differs from the book's class"
    assert bn.probe(book, cls, Raises) == "the probe raised RuntimeError: no loss here"
    # what `fastscratch run` asks: construction only, no computation
    assert bn.probe(book, cls, Raises, compute=False) is None
    assert bn.probe(book, cls, OtherGradient, compute=False) is None
    assert bn.probe(book, cls, DrawsAfter, compute=False) == "random state differs from the book's class"
    edited = load_book_class("ch05/two_layer_net.py", read("ch05/two_layer_net.py").replace(*EDITS["ch05/two_layer_net.py"]))
    assert bn.probe(book, edited.TwoLayerNet, fast) == "loss differs from the book's class"


def test_fast_class_is_none_for_a_module_not_there():
    book = bn.BookNetwork("chX/net.py", "Net", "fastscratch.no_such_module:Net", {}, (1, 1))
    assert bn.fast_class(book) is None


# --- other editions: what a translated edition's repository changes besides comments ---------

#: Local variables each edition renames (chapter 4's backward pass swaps da1/dz1; chapter 8
#: misspells weight_init_scales), all function locals of the book's file.
RENAMES = {
    "ch04/two_layer_net.py": {"da1": "dz1", "dz1": "da1", "batch_num": "n_batch", "z1": "h1"},
    "ch05/two_layer_net.py": {"layers": "layer_list", "dout": "d_out", "grads": "gradients"},
    "ch07/simple_convnet.py": {"filter_num": "num_filters", "conv_output_size": "conv_out_size"},
    "ch08/deep_convnet.py": {"weight_init_scales": "wieght_init_scales", "pre_node_nums": "pre_nodes"},
}
SYS_PATH = "sys.path.append(os.pardir)"
OTHER_SYS_PATH = "sys.path.append(os.path.join(os.path.dirname(__file__), '..'))"


def rename_locals(source, renames):
    """source with the NAME tokens in renames replaced, except attributes (after a dot) and keywords (before =)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    out = []
    for i, tok in enumerate(tokens):
        after_dot = i > 0 and tokens[i - 1].string == "."
        keyword = i + 1 < len(tokens) and tokens[i + 1].string == "=" and tokens[i - 1].string in ("(", ",")
        if tok.type == tokenize.NAME and tok.string in renames and not after_dot and not keyword:
            tok = tok._replace(string=renames[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def translated_edition(name, source):
    """source as a translated edition's repository has it: another sys.path line, renamed and misspelled
    locals, an import of numpy dropped (where the star import hands it out) or an extra one, translated
    comments and docstrings."""
    assert SYS_PATH in source
    source = rename_locals(source, RENAMES[name]).replace(SYS_PATH, OTHER_SYS_PATH)
    if "from common.functions import *" in source or "from common.layers import *" in source:
        source = source.replace("import numpy as np\n", "")          # np comes with the star import
    source = source.replace("import sys, os\n", "import sys, os\nimport numpy as np  # 数值计算\n"
                            "from collections import OrderedDict\n")   # an extra import, unused in ch04
    source = re.sub(r"#[^\n]*", "# 번역된 주석", source)
    source = re.sub(r'"""[^"]*"""', '"""번역된 문서 문자열: 신경망"""', source)
    return source.replace("class ", 'class ', 1).replace(":\n\n    def __init__", ':\n    """翻译的类说明"""\n\n'
                                                          "    def __init__", 1)


@pytest.mark.parametrize("name", FILES)
def test_translated_edition_is_recognised(name):
    source = read(name)
    edition = translated_edition(name, source)
    for old in RENAMES[name]:
        assert re.search(rf"(?<![.\w]){old}(?!\w)", source), old   # each rename changes the file
    assert edition != source and SYS_PATH not in edition
    book = bn.recognise(edition)
    assert book is not None and book.file == name


# One change of what the code does per file, on top of the edition's edits.
FORMULA_CHANGES = {
    "ch04/two_layer_net.py": [("z1 = sigmoid(a1)", "z1 = relu(a1)"),
                              ("weight_init_std=0.01", "weight_init_std=0.1"),
                              ("grads['b1'] = np.sum(da1, axis=0)", "grads['b1'] = np.sum(dz1, axis=0)")],
    "ch05/two_layer_net.py": [("Relu()", "Sigmoid()"), ("self.params['b1'] = np.zeros(hidden_size)",
                                                        "self.params['b1'] = np.ones(hidden_size)")],
    "ch07/simple_convnet.py": [("weight_init_std=0.01", "weight_init_std=0.02")],
    "ch08/deep_convnet.py": [("np.sqrt(2.0 / pre_node_nums)", "np.sqrt(1.0 / pre_node_nums)")],
}


@pytest.mark.parametrize("name, old, new", [(n, o, w) for n, edits in FORMULA_CHANGES.items() for o, w in edits])
def test_translated_edition_with_a_changed_formula_is_not_recognised(name, old, new):
    source = read(name)
    assert old in source
    assert bn.recognise(translated_edition(name, source.replace(old, new))) is None


def test_renaming_a_local_to_a_name_the_function_reads_is_not_recognised():
    # y -> softmax would shadow the softmax the method calls: another program, another normal form
    source = read("ch04/two_layer_net.py")
    assert bn.recognise(rename_locals(source, {"y": "softmax"})) is None
    assert bn.recognise(rename_locals(source, {"x": "inputs"})) is None      # a parameter: the interface


@pytest.mark.parametrize("name", FILES)
def test_translated_edition_passes_the_probe(name, load_book_class):
    book = bn.recognise(read(name))
    module = load_book_class(name, translated_edition(name, read(name)))
    np.random.seed(7)
    state = np.random.get_state()
    assert bn.check(book, getattr(module, book.class_name), bn.fast_class(book)) is None
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state, after))


def test_check_computes_on_the_reference_and_sees_a_changed_function(load_book_class, monkeypatch):
    name = "ch04/two_layer_net.py"
    book = bn.recognise(read(name))
    module = load_book_class(name)
    copy = _probes.on_reference(module.TwoLayerNet)
    from fastscratch.reference import functions as ref_functions
    assert copy.predict.__globals__["softmax"] is ref_functions.softmax
    assert module.TwoLayerNet.predict.__globals__["softmax"] is not ref_functions.softmax
    # what the file's names resolve to is part of the check: a sigmoid that is not the book's fails it
    monkeypatch.setitem(module.__dict__, "sigmoid", lambda a: np.maximum(0, a))
    assert bn.check(book, module.TwoLayerNet, bn.fast_class(book)) == "predict differs from the book's class"


KERNELS_USED = """
import json, sys
from numba.core.dispatcher import Dispatcher
sys.path.insert(0, "tests")
from test_book_networks import translated_edition, read
import importlib.util, tempfile, os
from fastscratch._substitution import runner
from fastscratch._substitution import book_networks as bn
from fastscratch._substitution import recognise as _recognise
sys.meta_path.insert(0, runner.BookImportHook())
name = {name!r}
path = os.path.join(tempfile.mkdtemp(), "edition.py")
open(path, "w", encoding="utf-8").write(translated_edition(name, read(name)))
spec = importlib.util.spec_from_file_location("edition", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
book = bn.recognise(open(path, encoding="utf-8").read())
reason = bn.check(book, getattr(module, book.class_name), bn.fast_class(book))
used = sorted(f"{{m}}.{{k}}" for m, mod in list(sys.modules.items()) if m.startswith("fastscratch")
              for k, v in vars(mod).items() if isinstance(v, Dispatcher) and v.signatures)
print(json.dumps({{"reason": reason, "used": used}}))
"""


@pytest.mark.parametrize("name", FILES)
def test_check_calls_no_kernel(name):
    # a script that never computes pays nothing for the check, on a cold Numba cache or a warm one
    from _subproc import run_json
    book_network(name)
    result = run_json(KERNELS_USED.format(name=name), f"the check of {name}")
    assert result == {"reason": None, "used": []}


def normal(source):
    import ast

    from fastscratch._substitution.normal_form import normal_form
    return ast.unparse(normal_form(ast.parse(source)))


def test_normal_form_renames_locals_in_order_of_first_appearance():
    assert normal("def f(x):\n    a = x\n    b = a * 2\n    return b\n") == \
        normal("def f(x):\n    q = x\n    p = q * 2\n    return p\n")
    # swapping which name holds which value is a renaming too (chapter 4's da1 / dz1)
    assert normal("def f(x):\n    a = x + 1\n    b = a * 2\n    return a - b\n") == \
        normal("def f(x):\n    b = x + 1\n    a = b * 2\n    return b - a\n")
    # but not a change of which value is used
    assert normal("def f(x):\n    a = x + 1\n    b = a * 2\n    return a - b\n") != \
        normal("def f(x):\n    a = x + 1\n    b = a * 2\n    return b - a\n")


def test_normal_form_keeps_parameters_globals_and_attributes():
    base = "count = 1\ndef f(x, y=2):\n    global count\n    count = x\n    z = self.z\n    return z + y\n"
    assert normal(base) != normal(base.replace("y", "w"))              # parameters are the interface
    assert normal(base) != normal(base.replace("count", "total"))      # module globals stay
    assert normal(base) != normal(base.replace("self.z", "self.q"))    # attributes stay
    assert "global count" in normal(base) and "_v0 = self.z" in normal(base)


def test_normal_form_scopes_lambdas_and_nested_functions():
    source = "def f(x):\n    a = 1\n    g = lambda a: a + x\n    return g(a)\n"
    assert normal(source) == "def f(x):\n    _v0 = 1\n    _v1 = lambda _l1_0: _l1_0 + x\n    return _v1(_v0)"
    nested = "def f(x):\n    a = 1\n    def h(b):\n        c = a + b\n        return c\n    return h(x)\n"
    assert "_v0 = _v0 + b" not in normal(nested)   # h's local is h's, its read of a is f's
    assert normal(nested) == normal(nested.replace("c", "d"))


def test_normal_form_imports():
    a = "import sys, os\nsys.path.append(os.pardir)\nimport numpy as np\nfrom m import *\nimport json\n"
    b = "import os\nimport sys\nsys.path.insert(0, os.path.dirname(__file__))\nfrom m import *\n"
    assert normal(a) == normal(b) == "from m import *"
    assert normal(a + "x = json.dumps(1)\n") != normal(b + "x = json.dumps(1)\n")   # a read import stays
    assert normal("from m import *\nfrom m import *\nimport k\ny = k") == normal("import k\nfrom m import *\ny = k")
