"""The agent of the adoption tests: starts version sets, reports them, and runs until killed.

    python -m tests.integration.local_agent STATE_DIR

It starts ``v1`` (two replicas of the hello app, version 1.0.0) and ``v2`` (one replica,
version 2.0.0), then prints one JSON line: ``{version_id: [[pid, port], ...]}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.integration.local_support import HELLO
from uno.deployment.adapters.platforms.local.supervising import Supervisor


async def main(state_dir: Path) -> None:
    supervisor = Supervisor(state_dir)
    await supervisor.start_version("v1", HELLO, replicas=2, env={"HELLO_VERSION": "1.0.0"})
    await supervisor.start_version("v2", HELLO, replicas=1, env={"HELLO_VERSION": "2.0.0"})
    started = {version.version_id: [[r.pid, r.port] for r in version.replicas] for version in supervisor.versions()}
    print(json.dumps(started), flush=True)
    await asyncio.Event().wait()  # until the test kills this process, as a crash would


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
