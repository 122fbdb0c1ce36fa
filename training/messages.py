"""Errors a person acts on, said in the language of whoever reads them.

The same reader, codebook and model store answer two audiences: the service's API, which answers
programs in English, and the command line and the batch reports, which a researcher reads in Dutch.
An error raised for both carries both texts: ``str(exc)`` is the English one (API answers, logs) and
``exc.dutch`` the Dutch one. An error that only a researcher meets (a codebook or training config
that does not load, a REFI-QDA file) is simply raised in Dutch, and ``exc.dutch`` is that text.
"""

from __future__ import annotations


class UserError(Exception):
    """A one-line message a person can act on; see the module docstring for its two texts."""

    def __init__(self, message: str, dutch: str | None = None) -> None:
        super().__init__(message)
        self.dutch = message if dutch is None else dutch

    def __reduce__(self):  # noqa: ANN204 - both texts survive pickling (process pools, Dask workers)
        return type(self), (str(self), self.dutch)


def in_dutch(exc: BaseException) -> str:
    """What to tell a researcher about ``exc``: its Dutch text where it has one."""
    return getattr(exc, "dutch", None) or str(exc)


def os_reason(exc: OSError) -> str:
    """Why a file could not be read or written, in Dutch: the system's own text is English."""
    import errno

    return {errno.ENOENT: "bestaat niet", errno.EACCES: "geen toegang (rechten)", errno.EPERM: "geen toegang (rechten)",
            errno.EISDIR: "is een map", errno.ENOTDIR: "een deel van het pad is geen map"}.get(
        exc.errno, exc.strerror or type(exc).__name__)
