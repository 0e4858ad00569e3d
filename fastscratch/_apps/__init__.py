"""The command line (``fastscratch ...``) and what only it runs: bench, sysinfo, warmup, checkpoints,
the notebook extension and runner. Apps use the public modules, the runtime and the substitution.
"""
