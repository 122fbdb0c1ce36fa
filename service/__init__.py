"""Codeerhulp's application layer: the command line, the HTTP service and its database.

Imports ``training``; ``training`` never imports this package.
"""
