"""Recognising the book's own network files (fastscratch._book_networks): fingerprints and the probe.

The book's files are read from ../shared/book-networks as data (tests skip where
it is absent); editions are made from them here by changing what does not
change the code (comments, blank lines, docstrings, the coding line) and what
does (an edited number or operator).
"""
import io
import os
import sys
import tokenize

import numpy as np
import pytest
from _paths import book_network

from fastscratch import _book_networks as bn
from fastscratch import runner

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
