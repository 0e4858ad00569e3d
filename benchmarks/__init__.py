"""fastscratch's asv suite (one module per area; shared pieces in common.py).

Benchmarks run as a user's script does: NumPy imported first, no process
settings (``import fastscratch`` makes none; docs/threads.md). The
``fastscratch`` command's own settings are measured by running it.
"""
