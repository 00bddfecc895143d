"""Durable file writes and directory locks: the one place for "write aside, then rename".

A crash (power loss, SIGKILL) at any point must leave either the old file or the new one,
never a truncated mix. Every writer here writes beside its destination, flushes and fsyncs the
data, renames it into place and fsyncs the parent directory so that the rename itself is on
disk before the caller moves on (e.g. before a checkpoint pointer names the new file).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator

from gan_tf.errors import GanTfError


class LockedError(GanTfError):
    """Another process holds the lock of a directory (a second trainer or pipeline run)."""


def fsync_dir(path: str) -> None:
    """Flushes a directory's entries (renames, new files) to disk; no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems refuse fsync on directories
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Flushes one file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str) -> None:
    """Flushes every file and directory below `root` (and `root` itself) to disk."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                fsync_file(path)
        fsync_dir(dirpath)


def _tmp_name(path: str, suffix: str) -> str:
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.tmp-{os.getpid()}{suffix}")


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yields a temporary path beside `path`; on success it becomes `path`, durably.

    For writers that want a file name (`np.savez`, `tf.io.TFRecordWriter`, Keras
    `save_weights`). `suffix` is appended to the temporary name for writers that insist on an
    extension. On an exception the temporary file is removed and `path` is left untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _tmp_name(path, suffix)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    fsync_dir(directory)


def atomic_write(path: str, data: bytes | str) -> None:
    """Writes `data` (text as UTF-8) to `path` atomically and durably."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(payload)


def atomic_write_json(path: str, value: object) -> None:
    """Writes `value` as indented, key-sorted JSON atomically and durably."""
    atomic_write(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: str, b: str) -> bool:
    """Atomically swaps two paths with Linux `renameat2(RENAME_EXCHANGE)`; False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), a)


def temp_dir_beside(dest: str) -> str:
    """A new empty directory beside `dest`, named `.<name>.tmp-<pid>-<random>`.

    Its mode is that of a directory made by `os.makedirs` (0o777 less the umask), not
    `mkdtemp`'s private 0o700, since it becomes `dest`: it is made with mode 0o777 for the
    kernel to apply the umask, which is never read (reading it means setting it, and
    another thread creating files in between would get the temporary one). Such
    directories left by a process that died are removed by `remove_stale_temps`.
    """
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    prefix = f".{os.path.basename(dest)}.tmp-{os.getpid()}-"
    for _ in range(100):
        path = os.path.join(parent, prefix + secrets.token_hex(4))
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", os.path.join(parent, prefix))


def remove_stale_temps(dest: str) -> list[str]:
    """Deletes `temp_dir_beside(dest)` leftovers of processes that no longer run.

    Returns:
      The paths removed.
    """
    parent = os.path.dirname(os.path.abspath(dest))
    prefix = f".{os.path.basename(dest)}."
    removed = []
    if not os.path.isdir(parent):
        return removed
    for name in os.listdir(parent):
        if not name.startswith(prefix):
            continue
        kind, _, rest = name[len(prefix) :].partition("-")
        pid = rest.split("-", 1)[0]
        if kind in ("tmp", "old") and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
            removed.append(os.path.join(parent, name))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_dir(tmp: str, dest: str) -> None:
    """Moves the finished directory `tmp` to `dest` (a sibling), replacing what was there.

    `tmp` is fsynced first, so `dest` names complete contents as soon as it exists. An
    existing `dest` is swapped with `tmp` in one atomic `renameat2(RENAME_EXCHANGE)` and the
    old contents deleted: a reader sees the old directory, then the new one, never a partial
    one and never neither. Where the kernel or filesystem cannot exchange, the old `dest` is
    moved aside (`.<name>.old-<pid>-...`) first, leaving a moment with neither; if the process
    dies in that moment, `restore_dir` puts the old directory back.
    """
    fsync_tree(tmp)
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.exists(dest):
        os.rename(tmp, dest)
        fsync_dir(parent)
        return
    if _exchange(tmp, dest):
        fsync_dir(parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(dest)}.old-{os.getpid()}-")
    os.rename(dest, os.path.join(old, "previous"))
    os.rename(tmp, dest)
    fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def building_dir(dest: str) -> Iterator[str]:
    """Yields a new directory beside `dest` to fill; on success it replaces `dest` whole
    (`replace_dir`), on any error it is removed and `dest` is left as it was."""
    remove_stale_temps(dest)
    tmp = temp_dir_beside(dest)
    try:
        yield tmp
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def private_tempdir(path: str) -> Iterator[str]:
    """Points `tempfile`, and child processes through `TMPDIR`, at a new empty `path` for the
    duration, then deletes it with whatever was left in it.

    For libraries that make temporary files and never delete them: a TFX pipeline run leaves
    an sdist of TFX itself (about 50 MB) for each Beam component and the build trees of the
    Trainer's module wheel. What a previous, killed holder left at `path` is deleted first.
    """
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = path
    try:
        yield path
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(path, ignore_errors=True)


def restore_dir(dest: str) -> bool:
    """Puts back the old `dest` that a `replace_dir` which died between its renames left aside.

    Returns:
      Whether a directory was restored.
    """
    if os.path.exists(dest):
        return False
    parent = os.path.dirname(os.path.abspath(dest))
    prefix = f".{os.path.basename(dest)}.old-"
    if not os.path.isdir(parent):
        return False
    for name in sorted(os.listdir(parent)):
        previous = os.path.join(parent, name, "previous")
        if name.startswith(prefix) and os.path.isdir(previous):
            os.rename(previous, dest)
            fsync_dir(parent)
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
            return True
    return False


class DirLock:
    """An exclusive, non-blocking lock on a directory, held by one process at a time.

    The lock is an `flock` on `<directory>/<name>`, so the kernel releases it when the holder
    exits for any reason (SIGKILL included): a stale lock file never blocks a rerun. The file
    records who holds it, for the error message.

    Args:
      directory: the directory to lock (created if missing).
      what: what the directory is, for messages (e.g. `"training workdir"`).
      name: lock file name.
    """

    def __init__(self, directory: str, what: str, name: str = ".lock"):
        self.directory = directory
        self.what = what
        self.path = os.path.join(directory, name)
        self._fd: int | None = None

    def acquire(self) -> DirLock:
        """Takes the lock.

        Raises:
          LockedError: naming the holder, if another process holds it.
        """
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._take(fd)
        except LockedError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv),
        }
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def check(self) -> None:
        """Fails as `acquire` would, without taking the lock or writing anything.

        Raises:
          LockedError: naming the holder, if another process holds the lock.
        """
        if not os.path.isfile(self.path):
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self._take(fd)
        finally:
            os.close(fd)  # and with it the lock

    def _take(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise LockedError(
                f"{self.directory} is in use by another process ({holder}); a {self.what} can "
                "be used by one process at a time: wait for it to finish or stop it"
            ) from None

    def release(self) -> None:
        """Releases the lock (the file stays; its contents are stale until the next holder)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"
