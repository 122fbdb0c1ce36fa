"""Errors the command line reports as one line with exit code 2."""


class CliError(Exception):
    """A one-line message for the user (exit code 2)."""
