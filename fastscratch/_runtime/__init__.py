"""The process and its threads: Numba's thread count, the command's process tuning, the supported-version check,
the first-compile notice and timing helpers.
"""
