"""Package layout: fastscratch.kernels is a subpackage, never a top-level `kernels`; the oracle stays pure."""
import ast
import os
import subprocess
import sys

import fastscratch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_kernels_import_as_subpackage_from_anywhere(tmp_path):
    code = ("import sys, fastscratch.kernels as k, fastscratch.kernels._jit; "
            "assert k.__name__ == 'fastscratch.kernels'; "
            "assert 'kernels' not in sys.modules; print('ok')")
    env = dict(os.environ, PYTHONPATH=ROOT)  # a source checkout that is not installed works too
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_reference_never_imports_kernels():
    ref_dir = os.path.join(os.path.dirname(fastscratch.__file__), "reference")
    for name in os.listdir(ref_dir):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(ref_dir, name)).read())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ("." * node.level) + (node.module or "")
                sep = "" if base.endswith(".") else "."
                mods = [base] + [base + sep + a.name for a in node.names]
            for m in mods:
                assert "kernels" not in m and not m.startswith(".."), f"{name} imports {m}"
                assert not m.startswith("fastscratch") or m.startswith("fastscratch.reference") \
                    or m.startswith("fastscratch.dataset"), f"{name} imports {m}"


def test_fast_networks_share_the_reference_code():
    import fastscratch.reference as ref
    for name in ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]:
        fast_cls, ref_cls = getattr(fastscratch, name), getattr(ref, name)
        assert issubclass(fast_cls, ref_cls)
        # the reference's network code finds fastscratch's layers by the book's names
        for layer in ("Affine", "Relu", "Sigmoid", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
                      "Convolution", "Pooling"):
            assert getattr(fast_cls.layer_lib, layer) is getattr(fastscratch.layers, layer)
        # nothing of the network itself is redefined in the fast class
        assert fast_cls.__init__ is ref_cls.__init__ and fast_cls.gradient is ref_cls.gradient
    assert issubclass(fastscratch.Trainer, ref.Trainer)
    assert fastscratch.Trainer.train_step is ref.Trainer.train_step
