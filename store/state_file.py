"""Small files a process keeps on local disk, replaced whole or not at all.

The saved API keys, the bootstrap admin key and follow-postfix's position are each one
small file that must survive a crash or a power loss as the old version or the new one,
never half of each: written under a temporary name in the same folder, fsynced, renamed
over the old name, and the folder fsynced so that the rename itself is durable. They hold
key hashes, a key or a log position, so they are readable by their owner only (mode 0600,
whatever the umask).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600), durably; ``OSError`` when it cannot be
    written, and then the old file is left as it was and no temporary file stays behind.
    The folder must exist."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # not every file system syncs a folder
            os.fsync(folder)
    finally:
        os.close(folder)
