"""The agent of the adoption tests: starts version sets, reports them, and runs until killed.

    python -m tests.integration.local_agent STATE_DIR [VERSIONS]

It starts ``v1`` (two replicas of the hello app, version 1.0.0) and ``v2`` (one replica,
version 2.0.0), or the version sets VERSIONS describes (a JSON list of objects with
``version_id``, ``argv``, ``replicas``, ``env`` and optionally ``secret_env``,
``log_max_bytes``, ``log_backups``), then prints one JSON line:
``{version_id: [[pid, port], ...]}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tests.integration.local_support import HELLO
from uno.deployment.adapters.platforms.local.rotating import LogPolicy
from uno.deployment.adapters.platforms.local.supervising import Supervisor

DEFAULT = [
    {"version_id": "v1", "argv": HELLO, "replicas": 2, "env": {"HELLO_VERSION": "1.0.0"}},
    {"version_id": "v2", "argv": HELLO, "replicas": 1, "env": {"HELLO_VERSION": "2.0.0"}},
]


async def main(state_dir: Path, versions: list[dict[str, Any]]) -> None:
    supervisor = Supervisor(state_dir)
    for version in versions:
        logs = LogPolicy(version.get("log_max_bytes", 10 * 1024 * 1024), version.get("log_backups", 3))
        await supervisor.start_version(
            version["version_id"],
            version["argv"],
            replicas=version["replicas"],
            env=version["env"],
            secret_env=version.get("secret_env"),
            logs=logs,
        )
    started = {version.version_id: [[r.pid, r.port] for r in version.replicas] for version in supervisor.versions()}
    print(json.dumps(started), flush=True)
    await asyncio.Event().wait()  # until the test kills this process, as a crash would


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), json.loads(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT))
