"""``--server``: the same commands against a real ``uno-deploy serve`` process, with the same output."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.support import UNO_DEPLOY, environment, free_port, hello_command, ok, uno_deploy, version_at

pytestmark = pytest.mark.integration

START_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Server:
    url: str
    token: str

    def env(self, *, token: bool = True) -> dict[str, str]:
        return environment(UNO_DEPLOY_SERVER=self.url, **({"UNO_DEPLOY_TOKEN": self.token} if token else {}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``uno-deploy serve`` (auth on) on a free port, with its own store and local platform."""
    home = tmp_path_factory.mktemp("server")
    own = environment(
        UNO_DEPLOY_DATABASE_URL=f"sqlite:///{home / 'server.db'}",
        UNO_DEPLOY_BACKUP_DIR=str(home / "backups"),
        UNO_DEPLOY_LOCAL_DIR=str(home / "local"),
    )
    token = ok("token", "create", "--name", "cli-tests", "--scope", "admin", env=own).stdout.strip()
    port = free_port()
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [*UNO_DEPLOY, "serve", "--port", str(port)], env=own, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, (home / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start in time"
                time.sleep(0.05)
        yield Server(url, token)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        uno_deploy("down", env=own)


def init(tmp_path: Path, app: str) -> int:
    port = free_port()
    ok("init", app, "--command", hello_command(), "--port", str(port), cwd=tmp_path)
    return port


def test_a_plan_reads_the_same_from_the_embedded_store_and_from_the_server(server: Server, tmp_path: Path):
    init(tmp_path, "same")

    embedded = ok("plan", "-f", "deployment.yaml", cwd=tmp_path)
    remote = ok("plan", "-f", "deployment.yaml", cwd=tmp_path, env=server.env())

    assert remote.stdout == embedded.stdout
    assert "strategy: blue-green" in remote.stdout


def test_a_diff_reads_the_same_and_exits_the_same_from_the_embedded_store_and_from_the_server(
    server: Server, tmp_path: Path
):
    init(tmp_path, "differs")

    embedded = uno_deploy("diff", "-f", "deployment.yaml", cwd=tmp_path)
    remote = uno_deploy("diff", "-f", "deployment.yaml", cwd=tmp_path, env=server.env())

    assert (remote.returncode, remote.stdout) == (embedded.returncode, embedded.stdout)
    assert remote.returncode == 1
    assert remote.stdout.endswith("a deploy would change differs in dev on local: 2 added\n")


def test_deploy_follow_upgrade_rollback_and_history_through_the_server(server: Server, tmp_path: Path):
    port = init(tmp_path, "remote")
    env = server.env()

    first = ok("deploy", "-f", "deployment.yaml", cwd=tmp_path, env=env)
    lines = first.stdout.splitlines()
    assert re.match(r"dep-\w+: deploy of remote 1\.0\.0 to dev \(local, blue-green\)$", lines[0])
    assert any(re.match(r"  deployment +deploy +succeeded .*serves 100% with blue-green", line) for line in lines)
    assert lines[-1].endswith(": deployed remote 1.0.0 in dev")
    assert version_at(port) == "1.0.0"

    second = ok("deploy", "-f", "deployment.yaml", "--set", "app_version=2.0.0", cwd=tmp_path, env=env)
    v2 = second.stdout.split(":")[0]
    assert version_at(port) == "2.0.0"
    assert "  status    succeeded in " in ok("status", v2, env=env).stdout

    rolled_back = ok("rollback", "--app", "remote", "--env", "dev", "--to", "1.0.0", env=env)
    assert rolled_back.stdout.splitlines()[-1].endswith(": rolled back to remote 1.0.0 in dev")
    assert version_at(port) == "1.0.0"

    history = ok("history", "remote", env=env).stdout.splitlines()
    assert [row.split()[1:4] for row in history[1:]] == [
        ["rollback", "1.0.0", "succeeded"],
        ["deploy", "2.0.0", "rolled-back"],
        ["deploy", "1.0.0", "succeeded"],
    ]
    assert "no deployments yet" in uno_deploy("history", "remote").stderr  # the embedded store saw none of it
    remote_logs = ok("logs", v2, env=env).stdout
    assert "deployment/deploy: succeeded in " in remote_logs
    assert "replica logs: on the server's machine" in remote_logs


def test_problems_are_the_same_line_and_exit_code_as_on_the_embedded_store(server: Server):
    embedded = uno_deploy("status", "dep-missing")
    remote = uno_deploy("status", "dep-missing", env=server.env())
    anonymous = uno_deploy("history", env=server.env(token=False))

    assert (
        (remote.returncode, remote.stderr)
        == (embedded.returncode, embedded.stderr)
        == (
            2,
            "error: deployment 'dep-missing' not found\n",
        )
    )
    assert anonymous.returncode == 2
    assert anonymous.stderr.endswith("(give --token or set UNO_DEPLOY_TOKEN)\n")


def test_a_server_that_cannot_be_reached_is_exit_code_3():
    nowhere = f"http://127.0.0.1:{free_port()}"

    refused = uno_deploy("--server", nowhere, "history")

    assert refused.returncode == 3
    assert refused.stderr.startswith(f"error: cannot reach the server at {nowhere}: ")
    assert len(refused.stderr.splitlines()) == 1


def test_a_store_that_cannot_be_reached_is_exit_code_3_too():
    nowhere = environment(UNO_DEPLOY_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/uno")

    refused = uno_deploy("history", env=nowhere)

    assert refused.returncode == 3
    assert refused.stderr.startswith("error: the store at postgresql+psycopg://nobody@127.0.0.1:")
    assert "Connection refused" in refused.stderr.splitlines()[0]
