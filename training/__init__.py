"""Codeerhulp's machine-learning core: codebook, segmenting, features, the code-suggestion model.

This package never imports ``service``: everything here runs from the command line with no web
server, and the service builds on it.
"""

__version__ = "0.1.0"
