"""Shared basics of the implementation: the dtype table, argument checks, the small-problem size rule,
the tracing array type and the fall-back signal.

Imports nothing of fastscratch but the reference and the kernels.
"""
