"""Files the process may not read or write: the error gives the OS's reason ("Permission
denied") and names the file. Root may read anything, so when the tests run as root the
checks run in a forked child that has dropped to the unprivileged `nobody` user."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import kws
import kws.files

NOBODY = 65534


def _errors(calls: dict) -> dict[str, str]:
    """{name: the message of the error each call raised ('' if none)}, run unprivileged."""
    def run() -> dict[str, str]:
        out = {}
        for name, fn in calls.items():
            try:
                fn()
                out[name] = ""
            except Exception as e:  # noqa: BLE001 - the message is what is checked
                out[name] = f"{type(e).__name__}: {e}"
        return out

    if os.geteuid() != 0:
        return run()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, report through the pipe
        status = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(w, json.dumps(run()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, "the unprivileged child failed"
    return json.loads(data)


@pytest.fixture
def shared_dir():
    """A folder every user can enter (pytest's tmp_path is root's own)."""
    d = Path(tempfile.mkdtemp(prefix="kws_perm_", dir="/tmp"))
    d.chmod(0o755)
    yield d
    for p in d.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    d.chmod(0o755)
    shutil.rmtree(d)


def test_unreadable_and_unwritable_files_name_the_file_and_the_reason(shared_dir, speech_dir):
    wav = shared_dir / "clip.wav"
    shutil.copy(min((speech_dir / "yes").glob("*.wav")), wav)
    model = shared_dir / "model.kws"
    shutil.copy(kws.bundled.model_path("speech_commands"), model)
    # The same calls work while the files are readable, so the errors below are the modes'.
    assert kws.read_wav(str(wav))[1] == 16000 and kws.Model.load(str(model)).labels
    for f in (wav, model):
        f.chmod(0)
    locked = shared_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)  # may be entered, not written
    errors = _errors({
        "read_wav": lambda: kws.read_wav(str(wav)),
        "wav_info": lambda: kws.wav_info(str(wav)),
        "load": lambda: kws.Model.load(str(model)),
        "write_wav": lambda: kws.write_wav(str(locked / "out.wav"),
                                           np.zeros(160, np.float32), 16000),
        "atomic_write": lambda: kws.files.atomic_write(locked / "out.kws", b"model"),
    })
    for name, path in (("read_wav", wav), ("wav_info", wav), ("load", model),
                       ("write_wav", locked / "out.wav"), ("atomic_write", locked / "out.kws")):
        assert "Permission denied" in errors[name], (name, errors[name])
        assert str(path) in errors[name], (name, errors[name])
    assert list(locked.iterdir()) == []  # nothing half-written left behind
