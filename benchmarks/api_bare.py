"""The baseline for ``benchmarks/api.py``: a bare FastAPI endpoint, served as ``uno-deploy serve`` serves.

    python benchmarks/api_bare.py PORT

It answers a constant body shaped like a deployment's status: no store, no auth, no work.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()
BODY = {
    "deployment_id": "dep-01jz8x3v5q6w7e8r9t0y1u2i3o",
    "status": "succeeded",
    "success": True,
    "message": "my-app 1.0.0 in dev deployed",
    "progress": 1.0,
    "current_stage": None,
    "current_task": None,
    "created_at": "2026-11-29T05:00:00Z",
    "started_at": "2026-11-29T05:00:00Z",
    "finished_at": "2026-11-29T05:00:01Z",
    "pipeline_id": "pipe-01jz8x3v5q6w7e8r9t0y1u2i3o",
}


@app.get("/api/deployments/status/{deployment_id}")
async def status(deployment_id: str) -> dict[str, object]:
    return BODY


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning", server_header=False
    )
