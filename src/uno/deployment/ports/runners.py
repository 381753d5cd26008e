"""Who runs a deployment: enough to tell, from another process, that its runner is gone.

A deployment records the identity of the process running it. When its lease is still
unexpired but that process is certainly dead (same machine, same process namespace, the
pid gone or reused), the next command that touches the deployment need not wait out the
TTL to recover it. ``gone`` answers True only when it is sure; anything else waits for
the lease to expire, which is always safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class RunnerIdentity(Protocol):
    def current(self) -> dict[str, Any]:
        """This process's identity, as a JSON-ready document kept with the deployment."""
        ...

    def gone(self, identity: Mapping[str, Any]) -> bool:
        """Whether the process ``identity`` names has certainly ended (False when unsure)."""
        ...
