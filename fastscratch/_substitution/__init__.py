"""Running the book's code unmodified: the import finder for ``common``/``dataset`` (``runner``),
the recognition of the book's network files and pasted definitions, NumPy's removed aliases.
See docs/substitution.md.
"""
