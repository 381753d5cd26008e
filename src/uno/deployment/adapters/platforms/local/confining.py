"""The first moments of a confined replica: join its cgroups, limit, isolate, drop privileges, exec.

Run by path (``python -I -S confining.py ERROR_FD SPEC ARGV...``), never as ``-m``:
importing the ``uno`` package would cost a replica start half a second, so this module
imports the standard library only. The supervisor starts it in the replica's own session
and working directory; it is the replica (same pid) once ``exec`` succeeds.

Why a helper and not ``preexec_fn``: the agent is an event loop (uvloop or asyncio) with
threads; code between ``fork`` and ``exec`` of such a process must not allocate or take
locks. A fresh interpreter may do anything, and then ``exec`` keeps the pid.

Order matters, each step needs the previous one's privileges:
1. join the replica's cgroups (its pid into each ``cgroup.procs``): before it allocates;
2. ``setrlimit(RLIMIT_AS)`` where no cgroup limits memory;
3. a private mount namespace where every mount is read-only, except a fresh tmpfs on
   ``/tmp`` and ``/dev``, ``/proc`` (``read_only``); an unprivileged agent first enters a
   user namespace mapping only its own uid, so it gains nothing outside it;
4. ``setgroups``, ``setgid``, ``setuid`` (``user``), then check the working directory is
   still readable;
5. ``exec`` the program.

Any failure is written to ERROR_FD as ``errno NUL message NUL path`` and the helper exits
127; ERROR_FD is close-on-exec, so the supervisor reads end-of-file exactly when ``exec``
succeeded, and turns a message into the ``OSError`` an unconfined start would have raised.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture Linux added it to (5.12)
WRITABLE = ("/dev", "/proc")  # programs need them; a fresh tmpfs goes on /tmp
_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


# the interpreter's own symbols hold libc's: ``ctypes.util.find_library`` would run ldconfig (30 ms a start)
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, path: str | None = None) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}", path)


def join_cgroups(procs_files: list[str]) -> None:
    for procs in procs_files:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))


def limit_address_space(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def isolate_filesystem() -> None:
    """Enter a private mount namespace and make every mount in it read-only, but /tmp, /dev and /proc."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS if uid == 0 else CLONE_NEWNS | CLONE_NEWUSER
    _check(_libc.unshare(flags), "cannot enter a private mount namespace")
    if uid != 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "cannot make the mounts private", "/")
    if not _set_read_only(b"/", True):
        _remount_each_read_only()
    for path in WRITABLE:
        with contextlib.suppress(OSError):  # one locked read-only stays so; device nodes are writable anyway
            _set_read_only(path.encode(), False)
    tmpfs = _libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777")
    _check(tmpfs, "cannot mount a private tmpfs on /tmp", "/tmp")


def _set_read_only(path: bytes, read_only: bool) -> bool:
    """``mount_setattr`` on the tree at ``path``; False when the kernel has no such call (before 5.12)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY if read_only else 0, 0 if read_only else MOUNT_ATTR_RDONLY, 0, 0)
    syscall = _libc.syscall
    syscall.restype = ctypes.c_long
    result = syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(path),
        ctypes.c_uint(AT_RECURSIVE),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if result != 0 and ctypes.get_errno() == errno.ENOSYS:
        return False
    _check(result, "cannot change the mounts' read-only flag", path.decode())
    return True


def _remount_each_read_only() -> None:
    """Older kernels: a read-only bind remount of every mount point, keeping its locked flags."""
    with open("/proc/self/mountinfo") as mountinfo:
        mounts = [line.split() for line in mountinfo]
    for fields in mounts:
        point, options = fields[4].encode().decode("unicode_escape"), fields[5].split(",")
        if point.startswith(WRITABLE):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        flags |= sum(flag for name, flag in _MOUNT_FLAGS.items() if name in options)
        _libc.mount(None, point.encode(), None, flags, None)  # a mount hidden under another cannot be reached


def become(user: str, uid: int, gid: int, groups: list[int]) -> None:
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    if not os.access(".", os.R_OK | os.X_OK):
        message = f"user {user} (uid {uid}) cannot read its working directory"
        raise PermissionError(errno.EACCES, message, os.getcwd())


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def prepare(spec: dict[str, Any]) -> None:
    join_cgroups(list(spec.get("cgroups", [])))
    if spec.get("address_space"):
        limit_address_space(int(spec["address_space"]))
    if spec.get("read_only"):
        isolate_filesystem()
    if spec.get("uid") is not None:
        groups = [int(group) for group in spec.get("groups", [])]
        become(str(spec.get("user", spec["uid"])), int(spec["uid"]), int(spec["gid"]), groups)


def main(arguments: list[str]) -> None:
    error_fd, spec, argv = int(arguments[0]), json.loads(arguments[1]), arguments[2:]
    os.set_inheritable(error_fd, False)  # closed by exec: the supervisor's end-of-file says it succeeded
    try:
        prepare(spec)
        os.execvp(argv[0], argv)
    except OSError as error:
        report = f"{error.errno or 0}\0{error.strerror or error}\0{error.filename or ''}"
        os.write(error_fd, report.encode(errors="replace"))
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
