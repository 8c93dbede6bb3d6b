"""Atomic file writing: the data goes to a unique temporary name beside the target and is
renamed over it once complete, so a reader never sees a partial file and a crash leaves the
previous file (or none) in place. New files get the usual mode: 0666 for files and 0777 for
folders, less the process umask (the kernel applies it at creation)."""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PathLike = str | os.PathLike


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _create_file(path: Path) -> tuple[int, Path]:
    """A new file with a unique temporary name beside `path`: (open fd, its path)."""
    for _ in range(100):
        tmp = _temporary_name(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as e:  # the OS's reason, naming the file the caller asked for
            raise type(e)(e.errno, f"cannot write {path}: {e.strerror}") from None
    raise OSError(f"{path}: could not create a unique temporary file beside it")


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yields a temporary file path beside `path` for a writer that wants a file name; when
    the block ends without an exception the file is flushed to disk and renamed over `path`,
    otherwise it is removed. The parent folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_file(path)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: PathLike, data: bytes | str) -> Path:
    """Writes `data` (text is UTF-8 encoded) to `path` atomically; returns the path."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yields a new empty temporary folder beside `path`; when the block ends without an
    exception it replaces `path` (an existing folder there is removed), otherwise it is
    removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = _temporary_name(path)
        try:
            os.mkdir(tmp, 0o777)
            break
        except FileExistsError:
            continue
    else:
        raise OSError(f"{path}: could not create a unique temporary folder beside it")
    old = _temporary_name(path)
    try:
        yield tmp
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
