"""Real subprocesses: output, exit codes, deadlines that kill whole process groups."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from uno.deployment import bootstrap
from uno.deployment.adapters.commands import SubprocessRunner
from uno.deployment.domain.enums import PipelineStatus

pytestmark = pytest.mark.integration

HANG_WITH_CHILD = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{os.getpid()} {child.pid}")
print("started", flush=True)
signal_ignored = __import__("signal").signal(__import__("signal").SIGTERM, __import__("signal").SIG_IGN)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def wait_until_gone(pids: list[int], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(alive(pid) for pid in pids):
        assert loop.time() < deadline, f"processes still alive: {[pid for pid in pids if alive(pid)]}"
        await asyncio.sleep(0.02)


async def test_output_and_exit_code_are_captured():
    outcome = await SubprocessRunner().run(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"], timeout=30
    )

    assert (outcome.returncode, outcome.stdout_tail, outcome.stderr_tail) == (3, "out\n", "err\n")
    assert not outcome.succeeded


PRINT_ENVIRONMENT = [sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"]


async def test_a_program_starts_from_the_baseline_plus_its_own_env_never_the_servers():
    server = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/deployer",
        "LANG": "C.UTF-8",
        "LC_TIME": "C",
        "UNO_DEPLOY_DATABASE_URL": "postgresql://uno:store-password@db/uno",
        "DB_PASSWORD": "s3cret-value",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "KEEP": "1",
    }
    outcome = await SubprocessRunner(server).run(PRINT_ENVIRONMENT, env={"EXTRA": "2"}, timeout=30)

    seen = json.loads(outcome.stdout_tail)
    assert {name: seen.get(name) for name in ("PATH", "HOME", "LANG", "LC_TIME", "EXTRA")} == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/deployer",
        "LANG": "C.UTF-8",
        "LC_TIME": "C",
        "EXTRA": "2",
    }
    assert not {"UNO_DEPLOY_DATABASE_URL", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "KEEP"} & set(seen)
    assert "store-password" not in outcome.stdout_tail


async def test_the_real_environment_of_the_server_does_not_reach_a_program(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", "postgresql://uno:live-store-password@db/uno")
    monkeypatch.setenv("DEPLOY_TOKEN", "live-deploy-token")

    outcome = await SubprocessRunner().run(PRINT_ENVIRONMENT, timeout=30)

    seen = json.loads(outcome.stdout_tail)
    assert not [name for name in seen if name.startswith("UNO_DEPLOY_")]
    assert "live-deploy-token" not in outcome.stdout_tail
    assert seen["PATH"] == os.environ["PATH"]


async def test_a_missing_program_is_reported_not_raised():
    outcome = await SubprocessRunner().run(["definitely-not-a-program-xyz"], timeout=5)

    assert outcome.returncode is None
    assert "definitely-not-a-program-xyz" in (outcome.start_error or "")


async def test_only_the_tail_of_long_output_is_kept():
    outcome = await SubprocessRunner().run(
        [sys.executable, "-c", "import sys; sys.stdout.write('x' * 100000 + 'END')"], timeout=30
    )

    assert outcome.stdout_tail.endswith("END")
    assert len(outcome.stdout_tail) == 16 * 1024


async def test_a_hung_program_and_its_children_are_killed_at_the_deadline(tmp_path: Path):
    pid_file = tmp_path / "pids"

    outcome = await SubprocessRunner().run([sys.executable, "-c", HANG_WITH_CHILD, str(pid_file)], timeout=2)

    assert outcome.timed_out
    assert outcome.returncode is None
    assert outcome.stdout_tail == "started\n"
    await wait_until_gone([int(pid) for pid in pid_file.read_text().split()])


async def test_a_command_task_past_its_timeout_fails_and_leaves_no_process(
    container: bootstrap.Container, tmp_path: Path
):
    pid_file = tmp_path / "pids"
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("hang", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "only")).value
    await service.add_task(
        pipeline.id,
        stage.id,
        "hang",
        action="command",
        params={"argv": [sys.executable, "-c", HANG_WITH_CHILD, str(pid_file)]},
        timeout=2,
    )

    finished = (await service.execute_pipeline(pipeline.id)).value

    assert finished.status is PipelineStatus.FAILED
    assert finished.task_named("hang").message == "timed out after 2s"
    await wait_until_gone([int(pid) for pid in pid_file.read_text().split()])


async def test_migrations_get_the_database_url_and_the_secret_is_never_stored(
    container: bootstrap.Container, environ: dict[str, str], tmp_path: Path
):
    database = tmp_path / "app.db"
    migrate = (
        "import os, sqlite3, sys;"
        "url = os.environ['DATABASE_URL'];"
        "sqlite3.connect(url.removeprefix('sqlite:///')).execute('create table migrated (id integer)');"
        "print('password seen:', os.environ.get('DB_PASSWORD') is not None)"
    )
    config = (
        await container.config_service.create_config(
            app_name="shop",
            app_version="1.0.0",
            environment="dev",
            database_config={
                "engine": "sqlite",
                "name": str(database),
                "apply_migrations": True,
                "password_env_var": "DB_PASSWORD",
                "migration_command": [sys.executable, "-c", migrate],
            },
        )
    ).value
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("migrate", deployment_id=config.id)).value
    stage = (await service.add_stage(pipeline.id, "deployment")).value
    await service.add_task(pipeline.id, stage.id, "apply-migrations")

    finished = (await service.execute_pipeline(pipeline.id)).value

    assert finished.status is PipelineStatus.SUCCEEDED, finished.message
    import sqlite3

    assert sqlite3.connect(database).execute("select name from sqlite_master").fetchall() == [("migrated",)]
    stored = json.dumps((await service.get_pipeline(pipeline.id)).value.to_document())
    events = json.dumps([event.to_document() for event in (await service.get_events(pipeline.id)).value])
    assert environ["DB_PASSWORD"] not in stored + events + config.model_dump_json()


async def test_postgres_urls_carry_the_password_from_the_named_variable(container: bootstrap.Container):
    from uno.deployment.engine.database_steps import database_url

    config = (
        await container.config_service.create_config(
            app_name="shop",
            app_version="1.0.0",
            environment="dev",
            database_config={
                "host": "db",
                "name": "shop",
                "user": "app",
                "password_env_var": "DB_PASSWORD",
                "ssl_mode": "require",
            },
        )
    ).value

    assert database_url(config, {"DB_PASSWORD": "p@ss/word"}) == (
        "postgresql://app:p%40ss%2Fword@db:5432/shop?sslmode=require"
    )
    assert database_url(config, {}) is None


async def test_baseline_variables_set_after_start_up_reach_the_commands(monkeypatch: pytest.MonkeyPatch):
    runner = SubprocessRunner()
    monkeypatch.setenv("TZ", "Europe/Late")

    outcome = await runner.run([sys.executable, "-c", "import os; print(os.environ['TZ'])"], timeout=30)

    assert outcome.stdout_tail == "Europe/Late\n"


LEADER_LEAVES_CHILD = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(sys.argv[1], "w").write(str(child.pid))
print("started", flush=True)
time.sleep(600)
"""


async def test_a_child_that_ignores_sigterm_dies_with_its_task_even_when_the_leader_obeys(tmp_path: Path):
    pid_file = tmp_path / "child"

    outcome = await SubprocessRunner().run([sys.executable, "-c", LEADER_LEAVES_CHILD, str(pid_file)], timeout=2)

    assert outcome.timed_out
    await wait_until_gone([int(pid_file.read_text())])
