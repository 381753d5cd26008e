"""Running programs as subprocesses, each in its own process group.

A deadline or a cancellation kills the whole group (SIGTERM, then SIGKILL after a
grace period), so a program that forked children or ignores SIGTERM cannot outlive
its task. Only the tail of stdout and stderr is kept.

A program never inherits the server's environment (which holds the server's own
settings and every secret it was started with): it starts from ``BASELINE_VARIABLES``
(and ``LC_*``) of that environment, plus the ``env`` its step passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Mapping, Sequence

from uno.deployment.ports.commands import CommandOutcome

TAIL_BYTES = 16 * 1024
KILL_GRACE = 0.5
# What every program expects of its machine, and nothing that could hold a secret.
BASELINE_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR")


def baseline_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` every program starts with: ``BASELINE_VARIABLES`` and the ``LC_*`` locale."""
    return {name: value for name, value in environ.items() if name in BASELINE_VARIABLES or name.startswith("LC_")}


class SubprocessRunner:
    def __init__(self, base_env: Mapping[str, str] | None = None) -> None:
        # read at each run, not copied: a PATH or locale changed after start-up reaches the commands
        self._base_env = os.environ if base_env is None else base_env

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float,
    ) -> CommandOutcome:
        started = time.monotonic()
        if not argv:
            raise ValueError("argv must name a program")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**baseline_environment(self._base_env), **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as error:
            return CommandOutcome(tuple(argv), None, "", "", time.monotonic() - started, start_error=str(error))
        stdout, stderr = _Tail(), _Tail()

        async def communicate() -> None:
            await asyncio.gather(stdout.read(process.stdout), stderr.read(process.stderr))
            await process.wait()

        timed_out = False
        try:
            await asyncio.wait_for(communicate(), timeout)
        except TimeoutError:
            timed_out = True
            await _kill_group(process)
        except asyncio.CancelledError:
            await _kill_group(process)
            raise
        return CommandOutcome(
            tuple(argv),
            None if timed_out else process.returncode,
            stdout.text(),
            stderr.text(),
            time.monotonic() - started,
            timed_out=timed_out,
        )

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self._base_env.get("PATH"))


class _Tail:
    def __init__(self) -> None:
        self._data = bytearray()

    async def read(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self._data += chunk
            del self._data[:-TAIL_BYTES]

    def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, give it a grace period, then SIGKILL whatever of the group is left.

    The final SIGKILL goes to the group even when its leader exited in time: a child that
    ignores SIGTERM must not outlive its task.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5.0)
