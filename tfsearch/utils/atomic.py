"""Atomic writes: a reader never sees a half-written file or folder.

Everything is written to a temporary sibling first and renamed into place
(`os.replace` is atomic on POSIX within one file system). The temporary file
or folder is made private (`tempfile` gives 0600 and 0700); before the rename
it gets the mode a plain `open` or `mkdir` would have given it under the
process's umask (0644 and 0755 under the usual 022), or the mode of the file
or folder it replaces, so that a server running as another user can read an
index or a result as it could any other file.
"""

import contextlib
import os
import pathlib
import shutil
import stat
import tempfile


def _umask():
    """The process's umask, read without changing it where Linux tells it (`os.umask` alone must set one)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set, then put back at once
    os.umask(mask)
    return mask


def _final_mode(path, directory):
    """The mode `path` gets: that of what it replaces, else what `open` / `mkdir` would give under the umask."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(os.stat(path).st_mode)
    return (0o777 if directory else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_file(path, mode="w", encoding="utf-8"):
    """Opens a temporary file that replaces `path` only if the block succeeds.

    Example:
    ```python
    with atomic_file("out/run.trec") as f:
        f.write("q1 Q0 d1 1 0.9 tfsearch\\n")
    ```
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), _final_mode(path, directory=False))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically."""
    with atomic_file(path) as f:
        f.write(text)


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary folder that becomes `path` when the block succeeds.

    Args:
        path: str or PathLike. The final folder.
        overwrite: bool. Replace an existing folder (it is removed only after
            the new one is complete). Otherwise an existing folder is an error.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another path or remove it first.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _final_mode(path, directory=True))
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
