"""A FAKE DigitalOcean App Platform API on 127.0.0.1 over TLS: the part the digitalocean driver uses.

Not App Platform: nothing is built or run. It keeps apps (their spec, active, pending
and pinned deployments) and deployments moving through App Platform's phases
(``PENDING_BUILD``, ``BUILDING``, ``DEPLOYING``, then ``ACTIVE`` or ``ERROR``), one phase
per ``phase_reads`` reads of the deployment. As App Platform, a deployment that fails
never replaces the active one. A service whose image tag contains ``broken`` fails its
health check (``ERROR``). Rollbacks: validate, create (a new deployment of the earlier
spec, which pins the app), commit (unpins) or revert (a deployment of the spec before).

It speaks TLS with a certificate of a test CA (``trustme``) because ``pydo``'s bearer
token policy (azure-core) refuses plain http: the driver is given the CA file. Every
request and every answer is validated against DigitalOcean's vendored OpenAPI
description (``tests/digitalocean_contract.py``); what breaks it is recorded in
``violations`` (the tests assert there are none), and a request that breaks it answers 422.
``throttle(n)`` answers the next n requests 429 with DigitalOcean's rate-limit headers;
``requests`` records every request.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme

from tests import digitalocean_contract

TOKEN = "dop_v1_test_token_0123456789"
PHASES = ("PENDING_BUILD", "BUILDING", "DEPLOYING")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int = 0


@dataclass
class App:
    spec: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    active: str | None = None
    pending: str | None = None
    pinned: str | None = None
    created_at: str = field(default_factory=_now)


class FakeDigitalOcean:
    def __init__(self, ca_file: Path, *, phase_reads: int = 1) -> None:
        self.apps: dict[str, App] = {}
        self.deployments: dict[str, dict[str, Any]] = {}  # id -> deployment (with "app_id" and "reads")
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.phase_reads = phase_reads
        self._throttled = 0
        self._lock = threading.RLock()
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(ca_file))
        self.ca_file = str(ca_file)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeDigitalOcean:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def throttle(self, count: int) -> None:
        self._throttled = count

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [item for item in self.requests if item.method == method and re.fullmatch(pattern, item.path)]

    def add_app(self, spec: dict[str, Any]) -> App:
        """An app made outside uno-deploy, with an active deployment of ``spec``."""
        app = App(spec)
        self.apps[app.id] = app
        deployment = self._deployment(app, spec, "made outside uno-deploy")
        deployment["phase"] = "ACTIVE"
        app.active = deployment["id"]
        return app

    def active_spec(self, app_id: str) -> dict[str, Any] | None:
        app = self.apps[app_id]
        return self.deployments[app.active]["spec"] if app.active else None

    # -- the API --------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            limits = {"ratelimit-limit": "5000", "ratelimit-remaining": "4999", "ratelimit-reset": "1700000000"}
            if self._throttled > 0:
                self._throttled -= 1
                message = {"id": "too_many_requests", "message": "API Rate limit exceeded."}
                return 429, message, {**limits, "ratelimit-remaining": "0", "retry-after": "0"}
            if headers.get("authorization") != f"Bearer {TOKEN}":
                return 401, {"id": "unauthorized", "message": "Unable to authenticate you."}, {}
            problems = digitalocean_contract.request_problems(method, path, body)
            if problems:
                self.violations += [f"request {method} {path}: {problem}" for problem in problems]
                return 422, {"id": "unprocessable_entity", "message": "; ".join(problems)}, {}
            status, answer = self._route(method, path, body)
            if status < 300 or status == 404:
                problems = digitalocean_contract.answer_problems(method, path, status, answer)
                self.violations += [f"answer to {method} {path}: {problem}" for problem in problems]
            return status, answer, limits

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:  # noqa: PLR0912 (one route a branch)
        if path == "/v2/apps" and method == "GET":
            apps = [self._app_view(app) for app in self.apps.values()]
            return 200, {"apps": apps, "links": {}, "meta": {"total": len(apps)}}
        if path == "/v2/apps" and method == "POST":
            app = App(body["spec"])
            self.apps[app.id] = app
            app.pending = self._deployment(app, body["spec"], "app created")["id"]
            return 200, {"app": self._app_view(app)}
        found = re.fullmatch(r"/v2/apps/([^/]+)(/.*)?", path)
        app = self.apps.get(found.group(1)) if found else None
        if app is None or found is None:
            return 404, {"id": "not_found", "message": "The resource you were accessing could not be found."}
        rest = found.group(2) or ""
        if rest == "" and method == "GET":
            return 200, {"app": self._app_view(app)}
        if rest == "" and method == "PUT":
            app.spec = body["spec"]
            app.pending = self._deployment(app, body["spec"], "app spec updated")["id"]
            return 200, {"app": self._app_view(app)}
        if rest == "/deployments" and method == "GET":
            mine = [self._deployment_view(item) for item in self.deployments.values() if item["app_id"] == app.id]
            mine.reverse()  # newest first, as App Platform lists them
            return 200, {"deployments": mine, "links": {}, "meta": {"total": len(mine)}}
        one = re.fullmatch(r"/deployments/([^/]+)(/cancel)?", rest)
        if one and one.group(1) in self.deployments:
            deployment = self.deployments[one.group(1)]
            if one.group(2) and method == "POST":
                if deployment["phase"] in PHASES:
                    deployment["phase"] = "CANCELED"
                    app.pending = None
                return 200, {"deployment": self._deployment_view(deployment)}
            if method == "GET":
                self._advance(app, deployment)
                return 200, {"deployment": self._deployment_view(deployment)}
        if rest == "/rollback/validate" and method == "POST":
            target = self.deployments.get(body["deployment_id"])
            if target is None or target["app_id"] != app.id:
                return 404, {"id": "not_found", "message": "deployment not found"}
            return 200, {"valid": True, "warnings": []}
        if rest == "/rollback" and method == "POST":
            target = self.deployments[body["deployment_id"]]
            made = self._deployment(app, target["spec"], "rollback")
            app.pending = made["id"]
            app.pinned = None if body.get("skip_pin") else made["id"]
            return 200, {"deployment": self._deployment_view(made)}
        if rest == "/rollback/commit" and method == "POST":
            app.pinned = None
            return 200, None
        return 404, {"id": "not_found", "message": f"Not found: {method} {path}"}

    def _deployment(self, app: App, spec: dict[str, Any], cause: str) -> dict[str, Any]:
        deployment = {
            "id": str(uuid.uuid4()),
            "app_id": app.id,
            "spec": json.loads(json.dumps(spec)),
            "phase": PHASES[0],
            "cause": cause,
            "created_at": _now(),
            "reads": 0,
        }
        self.deployments[deployment["id"]] = deployment
        return deployment

    def _advance(self, app: App, deployment: dict[str, Any]) -> None:
        """One read moves a deployment on: a phase every ``phase_reads`` reads, then ACTIVE or ERROR."""
        if deployment["phase"] not in PHASES:
            return
        deployment["reads"] += 1
        if deployment["reads"] % self.phase_reads:
            return
        index = PHASES.index(deployment["phase"])
        if index + 1 < len(PHASES):
            deployment["phase"] = PHASES[index + 1]
            return
        broken = any(
            "broken" in str((item.get("image") or {}).get("tag", "")) for item in deployment["spec"].get("services", [])
        )
        if broken:
            deployment["phase"] = "ERROR"  # its health check failed: the active deployment keeps serving
        else:
            if app.active:
                self.deployments[app.active]["phase"] = "SUPERSEDED"
            deployment["phase"] = "ACTIVE"
            app.active = deployment["id"]
            app.spec = deployment["spec"]
        app.pending = None

    def _deployment_view(self, deployment: dict[str, Any]) -> dict[str, Any]:
        view = {key: deployment[key] for key in ("id", "spec", "phase", "cause", "created_at")}
        view["updated_at"] = _now()
        if deployment["phase"] == "ERROR":
            view["progress"] = {
                "error_steps": 1,
                "steps": [
                    {
                        "name": "deploy",
                        "status": "ERROR",
                        "reason": {"code": "HealthChecksFailed", "message": "the health check of web failed"},
                    }
                ],
            }
        return view

    def _app_view(self, app: App) -> dict[str, Any]:
        view: dict[str, Any] = {"id": app.id, "spec": app.spec, "created_at": app.created_at, "updated_at": _now()}
        for key, deployment_id in (
            ("active_deployment", app.active),
            ("pending_deployment", app.pending),
            ("pinned_deployment", app.pinned),
        ):
            if deployment_id:
                view[key] = self._deployment_view(self.deployments[deployment_id])
        if app.active:
            view["live_url"] = f"https://{app.spec['name']}-abcde.ondigitalocean.app"
        return view


def _handler(fake: FakeDigitalOcean) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = urlsplit(self.path).path
            recorded = Recorded(method, path, body)
            fake.requests.append(recorded)
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer, extra = fake.answer(method, path, body, headers)
            recorded.status = status
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

    return Handler
