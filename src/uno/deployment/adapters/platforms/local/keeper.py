"""The keeper: the local agent's parent, which holds its listening sockets and restarts it when it dies.

Why (issue 14): the routers run inside the agent, so a killed agent took every
application's port down until the next deploy started a new one (a reviewer measured
2,344 of 128,630 requests failed in the 30 s after a ``kill -9``). The replicas survive
and a new agent adopts them; what was missing was someone to start that agent at once,
and a port that stays open meanwhile. The keeper is both:

- it holds a copy of every router's listening socket (``holding``: the agent hands each
  new one over with ``SCM_RIGHTS``), so while no agent runs the kernel still completes
  new connections into the socket's backlog instead of refusing them;
- when the agent dies it starts the next one at once, with those sockets, and the new
  agent adopts the replicas (as any new agent does) and accepts what waited in the backlog.

Why a fork of a ready process rather than a new interpreter: starting the agent from
scratch cost about 2.3 s of imports on a 2-core machine (measured before the
package's imports were made lazy), which would be 2.3 s of queued requests; the keeper imports the agent's code
once, and each agent is a fork of it that starts serving in milliseconds. The keeper
itself runs no event loop and no thread (so forking it is safe): one ``selectors`` loop
over the agent's pidfd, its channel and a signal wakeup.

Invariants:
- one keeper per state directory (``keeper.lock``, held while it lives); ``uno-deploy
  down`` returns once it is free;
- an agent that exits with status 0 was asked to stop (``shutdown``, SIGTERM): the keeper
  does not restart it, closes the held sockets and exits;
- an agent that dies otherwise (a signal, an exception) is restarted: at once the first
  time, then after 0.5 s doubling to 30 s while it keeps dying within 2 s of its start;
  each death and its reason go to ``agent.log``, and the agent's ``ping`` reports the count;
- SIGTERM or SIGINT to the keeper are passed on to the agent, and the keeper exits after it;
- a keeper killed with SIGKILL leaves the agent running, as agents ran before keepers:
  the agent only loses the keeper's hold on its ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from uno.deployment.adapters.platforms.local import agent, holding
from uno.deployment.adapters.platforms.local.replicas import RestartPolicy

PR_SET_NAME = 15
POLICY = RestartPolicy(initial=0.5, factor=2.0, maximum=30.0, stable_after=2.0)


class Keeper:
    """Runs agents one after another on ``state_dir``, holding their listening sockets; see the module docstring."""

    def __init__(self, state_dir: Path, loop: str, *, lock: int = -1, policy: RestartPolicy = POLICY) -> None:
        self.state_dir, self.loop, self.policy = state_dir, loop, policy
        self._lock = lock  # the directory's keeper lock: an agent must not hold it when its keeper is gone
        self.held: dict[int, socket.socket] = {}
        self.restarts = 0
        self.last_exit: str | None = None
        self._selector = selectors.DefaultSelector()
        self._wakeup, self._woken = socket.socketpair()
        self._stopping = False

    def run(self) -> int:
        self._catch_signals()
        crashes = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                status, ended = self._run_agent(), ""
            except OSError as error:  # no fork (out of processes, memory): try again, as after a crash
                status, ended = 1, f"could not be started: {error}"
            if status == 0 or self._stopping:
                break
            crashes = 1 if time.monotonic() - started >= self.policy.stable_after else crashes + 1
            self.restarts += 1
            delay = self.policy.delay(crashes - 1)
            self.last_exit = ended or _describe(status)
            _say(f"the local agent {self.last_exit}; restarting it in {delay:g}s (restart {self.restarts})")
            self._pause(delay)
        self.close()
        _say("keeper stopped")
        return 0

    def close(self) -> None:
        """Let the held ports go and close what the keeper opened."""
        for held in self.held.values():
            held.close()
        self.held.clear()
        self._selector.close()
        self._wakeup.close()
        self._woken.close()

    # -- one agent's life

    def _run_agent(self) -> int:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            ours.close()
            self._become_agent(theirs)
        theirs.close()
        ours.setblocking(False)
        pidfd = os.pidfd_open(pid)
        self._selector.register(ours, selectors.EVENT_READ, "channel")
        self._selector.register(pidfd, selectors.EVENT_READ, "exit")
        try:
            while not self._serve_once(ours, pid):
                pass
        finally:
            self._selector.unregister(pidfd)
            os.close(pidfd)
            if ours.fileno() >= 0:
                self._selector.unregister(ours)
                ours.close()
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def _serve_once(self, channel: socket.socket, pid: int) -> bool:
        """Handle what is ready; True once the agent has exited."""
        for key, _ in self._selector.select():
            if key.data == "exit":
                while channel.fileno() >= 0 and self._receive(channel):
                    pass  # what it sent just before it died (a socket to hold) still counts
                return True
            if key.data == "channel":
                self._receive(channel)
            elif key.data == "signal":
                self._signalled(pid)
        return False

    def _receive(self, channel: socket.socket) -> bool:
        """Apply one message from the agent; False when none was waiting or the channel ended."""
        try:
            data, descriptors, _, _ = socket.recv_fds(channel, 4096, 16)
        except BlockingIOError:
            return False
        except OSError:
            data, descriptors = b"", []
        if not data:  # the agent closed its end (it is exiting): its exit comes through the pidfd
            self._selector.unregister(channel)
            channel.close()
            return False
        received = [socket.socket(fileno=descriptor) for descriptor in descriptors]
        for held in received:
            os.set_inheritable(held.fileno(), False)
        try:
            self._apply(json.loads(data), received)
        except (ValueError, KeyError, TypeError) as error:
            _say(f"ignored a message from the agent: {error!r}")
            for held in received:
                held.close()
        return True

    def _apply(self, message: dict[str, int], received: list[socket.socket]) -> None:
        if "hold" in message:
            [listener] = received
            previous = self.held.pop(int(message["hold"]), None)
            if previous is not None:
                previous.close()
            self.held[int(message["hold"])] = listener
        elif "release" in message:
            released = self.held.pop(int(message["release"]), None)
            if released is not None:
                released.close()

    def _become_agent(self, channel: socket.socket) -> None:
        """In the forked child: drop what is the keeper's, run an agent, and never return."""
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, signal.SIG_DFL)
            self._selector.close()
            self._wakeup.close()
            self._woken.close()
            if self._lock >= 0:
                os.close(self._lock)
            channel.setblocking(False)
            _name_process(b"uno-agent")  # in ps and top; its command line stays the keeper's
            keeper = {"pid": os.getppid(), "restarts": self.restarts, "last_exit": self.last_exit}
            status = agent.run_kept(self.state_dir, self.loop, channel, dict(self.held), keeper)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(status)

    # -- signals and pauses

    def _catch_signals(self) -> None:
        self._woken.setblocking(False)
        self._wakeup.setblocking(False)
        signal.set_wakeup_fd(self._wakeup.fileno(), warn_on_full_buffer=False)
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: None)  # the wakeup descriptor says which one came
        self._selector.register(self._woken, selectors.EVENT_READ, "signal")

    def _signalled(self, pid: int | None) -> None:
        with contextlib.suppress(BlockingIOError):
            numbers = self._woken.recv(64)
            if numbers:
                self._stopping = True
                if pid is not None:
                    _say("keeper stopping: passing the signal on to the agent")
                    os.kill(pid, signal.SIGTERM)

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in self._selector.select(remaining):
                if key.data == "signal":
                    self._signalled(None)


def _describe(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def _name_process(name: bytes) -> None:
    """Set the name ``ps -o comm``, ``top`` and ``pgrep`` show (Linux, at most 15 bytes); best effort."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _say(message: str) -> None:
    print(f"keeper {os.getpid()}: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    state_dir, loop = agent.started("The uno-deploy local keeper: runs the local agent, restarts it.", argv)
    lock = holding.lock_directory(state_dir)
    if lock is None:
        _say(f"another keeper runs for {state_dir}: leaving the agent to it")
        return
    _name_process(b"uno-keeper")
    _say(f"keeping the local agent of {state_dir}")
    raise SystemExit(Keeper(state_dir, loop, lock=lock).run())


if __name__ == "__main__":
    main()
