"""Durable writes and directory locks (`gan_tf.files`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from gan_tf import files


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a" / "f.txt"
    files.atomic_write(str(path), "one")
    files.atomic_write(str(path), b"two")
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["f.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.json"
    files.atomic_write_json(str(path), {"a": 1})
    with pytest.raises(RuntimeError), files.atomic_path(str(path)) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert os.listdir(tmp_path) == ["f.json"]


def test_replace_dir_swaps_whole_directories(tmp_path):
    dest = tmp_path / "export"
    for version in ("old", "new"):
        tmp = tmp_path / f".tmp-{version}"
        tmp.mkdir()
        (tmp / "file").write_text(version)
        files.replace_dir(str(tmp), str(dest))
        assert (dest / "file").read_text() == version
    assert sorted(os.listdir(tmp_path)) == ["export"]


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from gan_tf import files
    files.DirLock(sys.argv[1], "test directory").acquire()
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_lock_is_exclusive_across_processes_and_freed_by_sigkill(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            files.LockedError, match=rf"in use by another process \(pid {holder.pid}"
        ):
            files.DirLock(str(tmp_path), "test directory").acquire()
        record = (tmp_path / ".lock").read_bytes()
        with pytest.raises(files.LockedError, match=rf"\(pid {holder.pid}"):
            files.DirLock(str(tmp_path), "test directory").check()
        assert (tmp_path / ".lock").read_bytes() == record  # checking writes nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the dead holder's lock: the stale file does not block.
    with files.DirLock(str(tmp_path), "test directory"):
        with pytest.raises(files.LockedError):
            files.DirLock(str(tmp_path), "test directory").acquire()
    files.DirLock(str(tmp_path), "test directory").acquire().release()
    record = (tmp_path / ".lock").read_bytes()
    files.DirLock(str(tmp_path), "test directory").check()  # free: passes, takes nothing
    assert (tmp_path / ".lock").read_bytes() == record
    files.DirLock(str(tmp_path), "test directory").acquire().release()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_replace_dir_exchanges_atomically(tmp_path, monkeypatch):
    dest = tmp_path / "v"
    dest.mkdir()
    (dest / "f").write_text("old")
    tmp = tmp_path / ".v.tmp-new"
    tmp.mkdir()
    (tmp / "f").write_text("new")
    calls = []
    real = files._exchange
    monkeypatch.setattr(files, "_exchange", lambda a, b: calls.append((a, b)) or real(a, b))
    files.replace_dir(str(tmp), str(dest))
    assert calls and (dest / "f").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["v"]


def test_a_replace_that_died_between_renames_is_restored(tmp_path):
    aside = tmp_path / f".v.old-{_dead_pid()}-abc" / "previous"
    aside.mkdir(parents=True)
    (aside / "f").write_text("old")
    assert files.restore_dir(str(tmp_path / "v"))
    assert (tmp_path / "v" / "f").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["v"]
    assert not files.restore_dir(str(tmp_path / "v"))


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / f".v.tmp-{_dead_pid()}-x1"
    mine = tmp_path / f".v.tmp-{os.getpid()}-x2"
    other = tmp_path / f".w.tmp-{_dead_pid()}-x3"
    for d in (dead, mine, other):
        d.mkdir()
    assert files.remove_stale_temps(str(tmp_path / "v")) == [str(dead)]
    assert sorted(os.listdir(tmp_path)) == sorted([mine.name, other.name])
    fresh = files.temp_dir_beside(str(tmp_path / "v"))
    assert os.path.basename(fresh).startswith(f".v.tmp-{os.getpid()}-")


def test_a_directory_built_aside_gets_the_mode_of_a_made_directory(tmp_path):
    umask = os.umask(0o022)
    try:
        tmp = files.temp_dir_beside(str(tmp_path / "dest"))
        files.replace_dir(tmp, str(tmp_path / "dest"))
        os.umask(0o027)
        other = files.temp_dir_beside(str(tmp_path / "other"))
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "dest").st_mode & 0o777 == 0o755
    assert os.stat(other).st_mode & 0o777 == 0o750


@pytest.mark.parametrize("outer", [None, "outer"])
def test_private_tempdir_holds_every_temp_file_and_is_deleted(tmp_path, monkeypatch, outer):
    import tempfile

    if outer is None:
        monkeypatch.delenv("TMPDIR", raising=False)
    else:
        (tmp_path / outer).mkdir()
        monkeypatch.setenv("TMPDIR", str(tmp_path / outer))
    monkeypatch.setattr(tempfile, "tempdir", None)
    before = tempfile.gettempdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    scratch = tmp_path / "run" / ".tmp"
    scratch.mkdir(parents=True)
    (scratch / "left-by-a-killed-run").write_text("x")
    with pytest.raises(RuntimeError, match="boom"):
        with files.private_tempdir(str(scratch)) as path:
            assert os.listdir(path) == []  # the killed run's file is gone
            made = tempfile.mkdtemp()
            child = subprocess.run(
                [sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp())"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert os.path.dirname(made) == os.path.dirname(child) == path
            raise RuntimeError("boom")
    assert not scratch.exists()
    assert os.environ.get("TMPDIR") == (None if outer is None else str(tmp_path / outer))
    assert tempfile.gettempdir() == before


def test_building_aside_leaves_the_process_umask_alone(tmp_path, monkeypatch):
    # Reading the umask means setting it, which another thread's files would get.
    def umask(mask):
        raise AssertionError(f"os.umask({mask:o}) called")

    monkeypatch.setattr(os, "umask", umask)
    tmp = files.temp_dir_beside(str(tmp_path / "dest"))
    assert os.path.isdir(tmp) and os.listdir(tmp) == []


def test_building_aside_takes_another_name_when_one_is_taken(tmp_path, monkeypatch):
    names = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    first = files.temp_dir_beside(str(tmp_path / "d"))
    second = files.temp_dir_beside(str(tmp_path / "d"))
    assert first.endswith("-aaaa") and second.endswith("-bbbb")
