# A script that fails: fastscratch run prints the traceback and exits with status 1.
def broken():
    raise RuntimeError("this script fails on purpose")


broken()
