"""``FastNetwork``: what makes a reference network class fast (its layer library and numerical gradient).
"""
