"""Telling that a deployment's runner died, from another process: real processes, Linux's /proc."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from uno.deployment.adapters.runners import ProcessIdentity

pytestmark = pytest.mark.integration

_REPORT = (
    "import json, sys; from uno.deployment.adapters.runners import ProcessIdentity; "
    "print(json.dumps(ProcessIdentity().current()), flush=True); sys.stdin.read()"
)


def test_a_runner_is_gone_once_its_process_ended_and_not_before():
    watcher = ProcessIdentity()
    with subprocess.Popen(
        [sys.executable, "-c", _REPORT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as runner:
        try:
            identity = json.loads(runner.stdout.readline())
            assert identity["pid"] == runner.pid
            assert watcher.gone(identity) is False
        finally:
            runner.kill()
            runner.wait()

    assert watcher.gone(identity) is True


def test_a_reused_pid_is_not_the_runner_and_another_machine_s_runner_is_never_judged():
    me = ProcessIdentity().current()
    watcher = ProcessIdentity()

    assert watcher.gone(me) is False
    assert watcher.gone({**me, "started": me["started"] + 1}) is True  # same pid, another process
    assert watcher.gone({**me, "pid": 2**22 + 1, "boot": "another-machine"}) is False
    assert watcher.gone({**me, "pid": 2**22 + 1, "pid_namespace": "pid:[1]"}) is False
    assert watcher.gone({}) is False
