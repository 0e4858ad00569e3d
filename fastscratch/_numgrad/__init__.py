"""Numerical gradients: the element loop behind ``fastscratch.gradient`` (``elementwise``), the
book's closure over a network (``closure``) and networks' incremental gradients (``incremental``,
``traced_chain``). See docs/numerical-gradient.md.
"""
