"""kws.files: the one atomic-write helper. New files and folders get the umask's usual
mode, temporary names are unique, and a failed write leaves the old file and no debris."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from kws.files import atomic_dir, atomic_path, atomic_write


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_modes_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    written = atomic_write(tmp_path / "a" / "labels.txt", "yes\nno\n")
    assert written.read_text() == "yes\nno\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~mask
    with atomic_path(tmp_path / "model.kws") as tmp:
        tmp.write_bytes(b"model")
    assert stat.S_IMODE((tmp_path / "model.kws").stat().st_mode) == 0o666 & ~mask
    with atomic_dir(tmp_path / "saved_model") as tmp:
        (tmp / "x").write_text("1")
    assert stat.S_IMODE((tmp_path / "saved_model").stat().st_mode) == 0o777 & ~mask


def test_failure_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "model.kws"
    atomic_write(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "saved") as tmp:
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.kws"]


def test_replacing_a_folder_and_concurrent_writers(tmp_path):
    folder = tmp_path / "saved_model"
    for value in ("1", "2"):
        with atomic_dir(folder) as tmp:
            (tmp / "v").write_text(value)
    assert (folder / "v").read_text() == "2"
    # Many threads writing the same file: unique temporary names, one whole result.
    target = tmp_path / "shared.txt"
    texts = [str(i) * 10000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write, args=(target, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text() in texts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model", "shared.txt"]
