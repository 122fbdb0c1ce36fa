"""Which files a command wrote and which it replaced, so it can say so when it ends.

A researcher who runs a command twice into the same folder should see that the second run
overwrote last week's tables, not find out later. A file counts as *replaced* when it existed
before the command and its inode (an atomic replace makes a new one), modification time or size
changed; as *written* when it did not exist before.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[int, int, int]


def file_stamp(path: Path) -> Stamp:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def stamps(paths: Iterable[Path]) -> dict[Path, Stamp]:
    """The current stamp of each path that exists."""
    return {Path(p): file_stamp(Path(p)) for p in paths if Path(p).is_file()}


def written_and_replaced(paths: Iterable[Path], before: dict[Path, Stamp]) -> tuple[list[Path], list[Path]]:
    """(new files, overwritten files) among ``paths``, compared with ``before``; unchanged ones in neither."""
    written, replaced = [], []
    for path in sorted({Path(p) for p in paths}):
        if not path.is_file():
            continue
        if path not in before:
            written.append(path)
        elif file_stamp(path) != before[path]:
            replaced.append(path)
    return written, replaced
