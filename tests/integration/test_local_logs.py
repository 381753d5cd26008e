"""Replica logs are rotated by size, in place, so that a replica keeps writing, adopted or not."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.integration.local_support import eventually, orphaned, release, supervising
from uno.deployment.adapters.platforms.local import processes, rotating
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.adapters.platforms.local.rotating import LogPolicy, backup_path

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs these parts on uvloop

# Each line of the file named by ORDERS asks for that many numbered lines, written at once (one write).
BURSTS = """
import os, pathlib, time
orders = pathlib.Path(os.environ["ORDERS"])
done = written = 0
while True:
    wanted = orders.read_text().split() if orders.exists() else []
    for count in map(int, wanted[done:]):
        os.write(1, "".join(f"line {written + n:06d} {'x' * 52}\\n" for n in range(count)).encode())
        written += count
    done = len(wanted)
    time.sleep(0.01)
"""
QUICKLY = 0.02  # seconds between the supervisor's looks at its logs


@pytest.fixture
def bursts(tmp_path: Path) -> list[str]:
    script = tmp_path / "bursts.py"
    script.write_text(BURSTS)
    return [sys.executable, str(script)]


def numbers(path: Path) -> list[int]:
    """The numbers of the program's lines in ``path``, in order (the supervisor's own lines left out)."""
    return [int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("line ")]


async def burst(orders: Path, log: Path, first: int, count: int) -> None:
    """Ask for lines ``first`` to ``first + count - 1``; wait until they are in ``<log>.1`` and the log is empty."""
    with orders.open("a") as asking:
        asking.write(f"{count}\n")
    newest = backup_path(log, 1)
    await eventually(
        lambda: log.stat().st_size == 0 and newest.exists() and first + count - 1 in numbers(newest),
        what=f"lines {first}-{first + count - 1} rotated",
    )


async def line(orders: Path, log: Path, number: int) -> None:
    with orders.open("a") as asking:
        asking.write("1\n")
    await eventually(lambda: number in numbers(log), what=f"line {number}")


def test_backups_move_up_one_and_the_oldest_goes(tmp_path: Path):
    log = tmp_path / "replica-0.log"
    for text in ("first\n", "second\n", "third\n"):
        log.write_text(text)
        log.chmod(0o600)
        rotating.rotate(log, backups=2)

    assert [log.read_text(), backup_path(log, 1).read_text(), backup_path(log, 2).read_text()] == [
        "",
        "third\n",
        "second\n",
    ]
    assert not backup_path(log, 3).exists()
    assert backup_path(log, 1).stat().st_mode & 0o777 == 0o600  # as private as the log it copies


def test_with_no_backups_the_log_is_only_emptied(tmp_path: Path):
    log = tmp_path / "replica-0.log"
    log.write_text("x" * 2000)

    assert rotating.rotate_if_large(log, LogPolicy(max_bytes=1024, backups=0))

    assert (log.read_text(), sorted(path.name for path in tmp_path.iterdir())) == ("", ["replica-0.log"])


def test_a_log_within_its_limit_or_missing_is_left_alone(tmp_path: Path):
    log = tmp_path / "replica-0.log"
    log.write_text("x" * 1024)

    assert not rotating.rotate_if_large(log, LogPolicy(max_bytes=1024))
    assert not rotating.rotate_if_large(tmp_path / "none.log", LogPolicy(max_bytes=1024))
    assert log.read_text() == "x" * 1024


def test_a_writer_appending_through_its_own_descriptor_goes_on_at_the_start_of_the_emptied_log(tmp_path: Path):
    log = tmp_path / "replica-0.log"
    writer = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # as a replica holds its stdout
    try:
        os.write(writer, b"before\n" * 200)
        rotating.rotate(log, backups=1)
        os.write(writer, b"after\n")
    finally:
        os.close(writer)

    assert log.read_bytes() == b"after\n"  # no hole of zeros where the old content was
    assert backup_path(log, 1).read_bytes() == b"before\n" * 200


async def test_a_running_replicas_log_is_rotated_by_size_and_no_line_is_lost(tmp_path: Path, bursts: list[str]):
    orders, log = tmp_path / "orders", tmp_path / "state" / "logs" / "v1" / "replica-0.log"
    async with supervising(tmp_path / "state", log_check_seconds=QUICKLY) as supervisor:
        [started] = await supervisor.start_version(
            "v1", bursts, replicas=1, env={"ORDERS": str(orders)}, logs=LogPolicy(max_bytes=1024, backups=2)
        )
        for first in range(0, 80, 20):
            await burst(orders, log, first, 20)  # 20 lines of 65 bytes: over the limit, rotated
        await line(orders, log, 80)
        running = supervisor.replicas("v1")[0]

    assert (running.pid, running.restarts) == (started.pid, 0)  # rotation never touched the process
    assert (numbers(backup_path(log, 2)), numbers(backup_path(log, 1))) == (list(range(40, 60)), list(range(60, 80)))
    assert not backup_path(log, 3).exists()
    assert log.read_text().startswith("line 000080 ")  # written at the start of the emptied file


async def test_an_adopted_replicas_log_goes_on_and_is_rotated_by_the_new_supervisor(tmp_path: Path, bursts: list[str]):
    orders, log = tmp_path / "orders", tmp_path / "state" / "logs" / "v1" / "replica-0.log"
    version = {
        "version_id": "v1",
        "argv": bursts,
        "replicas": 1,
        "env": {"ORDERS": str(orders)},
        "log_max_bytes": 1024,
        "log_backups": 1,
    }
    async with orphaned(tmp_path / "state", [version]) as started:
        [[pid, _]] = started["v1"]
        async with supervising(tmp_path / "state", log_check_seconds=QUICKLY) as supervisor:
            await supervisor.adopt()  # the log settings come from the state file
            await burst(orders, log, 0, 20)
            await burst(orders, log, 20, 20)
            await line(orders, log, 40)
            adopted = supervisor.replicas("v1")[0]

    assert (adopted.pid, adopted.adopted) == (pid, True)
    assert numbers(backup_path(log, 1)) == list(range(20, 40))
    assert not backup_path(log, 2).exists()
    assert log.read_text() == f"line 000040 {'x' * 52}\n"


async def test_a_configurations_log_settings_reach_the_agent_which_rotates_by_them(tmp_path: Path, bursts: list[str]):
    orders = tmp_path / "orders"
    driver = LocalDriver(tmp_path / "local", {"PATH": os.environ.get("PATH", "")})
    settings = {"command": bursts, "port": processes.free_port(set()), "log_max_bytes": 1024, "log_backups": 1}
    try:
        created = await driver.create_version(release(settings, env={"ORDERS": str(orders)}), 1)
        log = tmp_path / "local" / "processes" / "logs" / created.value.id / "replica-0.log"

        await burst(orders, log, 0, 20)  # rotated by the agent, on its own schedule (every second)

        state = json.loads((tmp_path / "local" / "processes" / "supervisor.json").read_text())
        assert state["versions"][created.value.id]["logs"] == {"max_bytes": 1024, "backups": 1}
    finally:
        await driver.shutdown()
