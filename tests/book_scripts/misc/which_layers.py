# Prints which package answers common.layers (fastscratch run --compare runs it twice).
import sys, os
sys.path.append(os.pardir)
import common.layers
print("common.layers is:", common.layers.__alias_of__)
