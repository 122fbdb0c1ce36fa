"""Subcommands of ``codeerhulp``, one module per group; each has ``register(subparsers)``."""
