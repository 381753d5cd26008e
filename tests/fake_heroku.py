"""A FAKE Heroku Platform API on 127.0.0.1: the part the heroku driver uses, stateful, checked against Heroku's schema.

Not Heroku: nothing is built or run. It keeps apps, their config vars, features
(``preboot``, read and set), formation, sources (uploaded tarballs, really stored and opened), builds,
releases (with ``current``), and makes up dynos for the current release. Each request
body is validated against its link's ``schema`` and each answer against its
``targetSchema`` in the vendored hyper-schema (``tests/heroku_contract.py``): anything
either side sends that Heroku's description does not allow is recorded in ``violations``
(the tests assert there are none), and a request the API would refuse answers 422.

What a build "does" comes from the uploaded tarball: a file ``FAKE_HEROKU`` in it says
``build-fails`` (the build fails), ``crash`` (its dynos crash), ``unhealthy`` (its dynos
are up but the app's URL answers 503) or nothing (healthy). A build stays ``pending`` for
``build_reads`` reads, a new release's dynos are ``starting`` for ``boot_reads`` reads.
Lists answer at most ``page_size`` items, with ``Range``/``Next-Range`` pagination as
Heroku's. ``throttle(n)`` answers the next n requests 429 with Heroku's rate-limit headers.
The app itself is served too: as an HTTP proxy (``proxy_url``), the fake answers
``GET http://<app>.herokuapp.com/<path>`` for the current release (200 or 503).
``requests`` records every API request, in order.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.heroku_contract import contract

TOKEN = "heroku-test-token-0123456789"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id() -> str:
    return str(uuid.uuid4())


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int = 0


@dataclass
class App:
    name: str
    region: str = "us"
    stack: str = "heroku-24"
    id: str = field(default_factory=_id)
    config: dict[str, str] = field(default_factory=dict)
    preboot: bool = False
    formation: dict[str, dict[str, Any]] = field(default_factory=lambda: {"web": {"quantity": 1, "size": "basic"}})
    releases: list[dict[str, Any]] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)
    release_config: dict[str, dict[str, str]] = field(default_factory=dict)  # release id -> its config vars
    slug_behaviour: dict[str, str] = field(default_factory=dict)  # slug id -> "", "crash", "unhealthy"
    build_reads: dict[str, int] = field(default_factory=dict)  # build id -> reads so far
    boot: dict[str, int] = field(default_factory=dict)  # release id -> dyno reads so far
    downtime: list[str] = field(default_factory=list)  # releases made with preboot off while dynos ran

    @property
    def current(self) -> dict[str, Any] | None:
        return next((item for item in self.releases if item["current"]), None)


class FakeHeroku:
    def __init__(self, *, build_reads: int = 1, boot_reads: int = 1, page_size: int = 200) -> None:
        self.apps: dict[str, App] = {}
        self.sources: dict[str, bytes | None] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.build_reads = build_reads
        self.boot_reads = boot_reads
        self.page_size = page_size
        self._throttled = 0
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    proxy_url = url

    def add_app(self, name: str, **settings: Any) -> App:
        app = App(name, **settings)
        self.apps[name] = app
        return app

    def throttle(self, count: int) -> None:
        self._throttled = count

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [item for item in self.requests if item.method == method and re.fullmatch(pattern, item.path)]

    def live(self, name: str) -> dict[str, Any] | None:
        return self.apps[name].current

    def __enter__(self) -> FakeHeroku:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the API --------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self._throttled > 0:
                self._throttled -= 1
                return (
                    429,
                    {"id": "rate_limit", "message": "Your account reached the API rate limit"},
                    {
                        "RateLimit-Remaining": "0",
                        "Retry-After": "0",
                    },
                )
            if headers.get("authorization") != f"Bearer {TOKEN}":
                return 401, {"id": "unauthorized", "message": "Invalid credentials provided."}, {}
            if headers.get("accept") != "application/vnd.heroku+json; version=3":
                return 400, {"id": "bad_request", "message": "Please specify a version (Accept header)."}, {}
            problems = contract().request_problems(method, path, body)
            if problems:
                self.violations += [f"request {method} {path}: {problem}" for problem in problems]
                return 422, {"id": "invalid_params", "message": "; ".join(problems)}, {}
            status, answer = self._route(method, path, body)
            extra: dict[str, str] = {"RateLimit-Remaining": "4500"}
            if status < 300 and isinstance(answer, list):
                status, answer, extra2 = self._page(answer, headers.get("range", ""))
                extra.update(extra2)
            if status < 300:
                problems = contract().answer_problems(method, path, answer)
                self.violations += [f"answer to {method} {path}: {problem}" for problem in problems]
            return status, answer, extra

    def _page(self, items: list[Any], asked: str) -> tuple[int, list[Any], dict[str, str]]:
        """Heroku's Range pagination over ids: ``id ]<last id>..; max=<n>``."""
        found = re.match(r"^id (\]?)([^.;]*)\.\.(?:; *max=(\d+))?", asked.strip())
        most = min(int(found.group(3)) if found and found.group(3) else self.page_size, self.page_size)
        start = 0
        if found and found.group(2):
            ids = [item["id"] for item in items]
            start = ids.index(found.group(2)) + (1 if found.group(1) else 0) if found.group(2) in ids else len(items)
        page = items[start : start + most]
        if start + most < len(items):
            return 206, page, {"Next-Range": f"id ]{page[-1]['id']}..; max={most}"}
        return 200, page, {}

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/sources":
            return 201, self._source()
        found = re.fullmatch(r"/apps/([^/]+)(/.*)?", path)
        if not found:
            return 404, {"id": "not_found", "message": "Not found."}
        app = self.apps.get(found.group(1))
        if app is None:
            return 404, {"id": "not_found", "message": "Couldn't find that app."}
        rest = found.group(2) or ""
        routes = [
            ("GET", r"", lambda: self._app(app)),
            ("PATCH", r"/features/preboot", lambda: self._preboot(app, body)),
            ("GET", r"/features/preboot", lambda: self._preboot(app, {"enabled": app.preboot})),
            ("GET", r"/config-vars", lambda: dict(app.config)),
            ("PATCH", r"/config-vars", lambda: self._config(app, body)),
            ("POST", r"/builds", lambda: self._build(app, body)),
            ("GET", r"/builds", lambda: [self._build_view(app, item) for item in app.builds]),
            ("GET", r"/releases", lambda: [self._release_view(app, item) for item in app.releases]),
            ("POST", r"/releases", lambda: self._rollback(app, body)),
            ("PATCH", r"/formation", lambda: self._formation(app, body)),
            ("GET", r"/dynos", lambda: self._dynos(app)),
        ]
        for wanted, pattern, run in routes:
            if method == wanted and re.fullmatch(pattern, rest):
                return _ok(method, run())
        if method == "GET" and (one := re.fullmatch(r"/builds/([^/]+)", rest)):
            build = next((item for item in app.builds if item["id"] == one.group(1)), None)
            if build is None:
                return 404, {"id": "not_found", "message": "Couldn't find that build."}
            self._advance(app, build)
            return 200, self._build_view(app, build)
        if method == "GET" and (one := re.fullmatch(r"/formation/([^/]+)", rest)):
            entry = app.formation.get(one.group(1))
            if entry is None:
                return 404, {"id": "not_found", "message": "Couldn't find that formation."}
            return 200, self._formation_view(app, one.group(1))
        return 404, {"id": "not_found", "message": f"Not found: {method} {path}"}

    def _app(self, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "name": app.name,
            "region": {"id": _id(), "name": app.region},
            "stack": {"id": _id(), "name": app.stack},
            "build_stack": {"id": _id(), "name": app.stack},
            "web_url": f"http://{app.name}.herokuapp.com/",
            "created_at": _now(),
            "updated_at": _now(),
            "released_at": _now(),
            "maintenance": False,
        }

    def _preboot(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        app.preboot = bool(body["enabled"])
        return {
            "id": _id(),
            "name": "preboot",
            "enabled": app.preboot,
            "state": "general",
            "description": "Provide seamless web dyno deploys",
            "doc_url": "https://devcenter.heroku.com/articles/preboot",
            "created_at": _now(),
            "updated_at": _now(),
            "display_name": "",
            "feedback_email": "",
        }

    def _config(self, app: App, body: dict[str, Any]) -> dict[str, str]:
        for name, value in body.items():
            if value is None:
                app.config.pop(name, None)
            else:
                app.config[name] = value
        current = app.current
        self._release(app, current["slug"]["id"] if current and current["slug"] else None, "Set config vars")
        return dict(app.config)

    def _source(self) -> dict[str, Any]:
        key = uuid.uuid4().hex
        self.sources[key] = None
        blob = f"{self.url}/__sources/{key}.tgz"
        return {"source_blob": {"get_url": blob, "put_url": blob}}

    def _build(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        url = body["source_blob"]["url"]
        key = url.rsplit("/", 1)[-1].removesuffix(".tgz")
        build = {
            "id": _id(),
            "status": "pending",
            "source_blob": {"url": url, "version": body["source_blob"].get("version"), "checksum": None},
            "behaviour": _behaviour(self.sources.get(key)),
            "created_at": _now(),
        }
        app.builds.append(build)
        app.build_reads[build["id"]] = 0
        return self._build_view(app, build)

    def _advance(self, app: App, build: dict[str, Any]) -> None:
        """A pending build ends after ``build_reads`` reads: failed, or a slug and a release."""
        if build["status"] != "pending":
            return
        app.build_reads[build["id"]] += 1
        if app.build_reads[build["id"]] < self.build_reads:
            return
        if build["behaviour"] in {"build-fails", "unreadable"}:
            build["status"] = "failed"
            return
        slug = _id()
        app.slug_behaviour[slug] = build["behaviour"]
        build["slug"] = {"id": slug}
        build["release"] = {"id": self._release(app, slug, f"Deploy {build['source_blob']['version']}")["id"]}
        build["status"] = "succeeded"

    def _build_view(self, app: App, build: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": build["id"],
            "app": {"id": app.id},
            "status": build["status"],
            "source_blob": build["source_blob"],
            "slug": build.get("slug"),
            "release": build.get("release"),
            "stack": app.stack,
            "buildpacks": None,
            "output_stream_url": f"{self.url}/__streams/{build['id']}",
            "created_at": build["created_at"],
            "updated_at": _now(),
            "user": {"id": _id(), "email": "deployer@example.com"},
        }

    def _release(self, app: App, slug: str | None, description: str) -> dict[str, Any]:
        running = app.current is not None and any(entry["quantity"] for entry in app.formation.values())
        for item in app.releases:
            item["current"] = False
        release = {
            "id": _id(),
            "version": len(app.releases) + 1,
            "slug": {"id": slug} if slug else None,
            "description": description,
            "status": "succeeded",
            "current": True,
            "created_at": _now(),
        }
        app.releases.append(release)
        app.release_config[release["id"]] = dict(app.config)
        app.boot[release["id"]] = 0
        if running and not app.preboot:
            app.downtime.append(release["id"])  # the old dynos stop before the new ones are up
        return release

    def _release_view(self, app: App, release: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": release["id"],
            "version": release["version"],
            "slug": release["slug"],
            "description": release["description"],
            "status": release["status"],
            "current": release["current"],
            "app": {"id": app.id, "name": app.name},
            "addon_plan_names": [],
            "created_at": release["created_at"],
            "updated_at": release["created_at"],
            "user": {"id": _id(), "email": "deployer@example.com"},
            "output_stream_url": None,
        }

    def _rollback(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        earlier = next((item for item in app.releases if item["id"] == body["release"]), None)
        if earlier is None or earlier["slug"] is None:
            raise _Refused(404, "not_found", "Couldn't find that release.")
        app.config = dict(app.release_config[earlier["id"]])  # a rollback restores the release's config vars too
        made = self._release(app, earlier["slug"]["id"], f"Rollback to v{earlier['version']}")
        return self._release_view(app, made)

    def _formation(self, app: App, body: dict[str, Any]) -> list[dict[str, Any]]:
        for update in body["updates"]:
            entry = app.formation.setdefault(update["type"], {"quantity": 0, "size": "basic"})
            for key in ("quantity", "size"):
                if key in update:
                    entry[key] = update[key]
        return [self._formation_view(app, name) for name in sorted(app.formation)]

    def _formation_view(self, app: App, name: str) -> dict[str, Any]:
        entry = app.formation[name]
        return {
            "id": _id(),
            "app": {"id": app.id, "name": app.name},
            "type": name,
            "quantity": entry["quantity"],
            "size": entry["size"],
            "command": "bin/start",
            "created_at": _now(),
            "updated_at": _now(),
        }

    def _dynos(self, app: App) -> list[dict[str, Any]]:
        current = app.current
        if current is None or current["slug"] is None:
            return []
        app.boot[current["id"]] += 1
        behaviour = app.slug_behaviour.get(current["slug"]["id"], "")
        booting = app.boot[current["id"]] <= self.boot_reads
        state = "starting" if booting else ("crashed" if behaviour == "crash" else "up")
        dynos = []
        for name, entry in sorted(app.formation.items()):
            for index in range(entry["quantity"]):
                dynos.append(
                    {
                        "id": _id(),
                        "name": f"{name}.{index + 1}",
                        "type": name,
                        "state": state,
                        "size": entry["size"],
                        "command": "bin/start",
                        "release": {"id": current["id"], "version": current["version"]},
                        "app": {"id": app.id, "name": app.name},
                        "attach_url": None,
                        "created_at": _now(),
                        "updated_at": _now(),
                    }
                )
        return dynos

    # -- the app, as reached through its web_url ------------------------------------------

    def app_answer(self, host: str) -> int:
        with self._lock:
            app = self.apps.get(host.split(".", maxsplit=1)[0])
            current = app.current if app else None
            if app is None or current is None or current["slug"] is None:
                return 404
            if not app.formation.get("web", {}).get("quantity"):
                return 503  # Heroku's router: no web dynos running (H14)
            behaviour = app.slug_behaviour.get(current["slug"]["id"], "")
            return 200 if behaviour == "" else 503


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _ok(method: str, answer: Any) -> tuple[int, Any]:
    return (201 if method == "POST" else 200), answer


def _behaviour(tarball: bytes | None) -> str:
    """What the uploaded source asks of the fake (``FAKE_HEROKU``), or ``unreadable`` when it is no tarball."""
    if tarball is None:
        return "unreadable"
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            names = archive.getnames()
            if "FAKE_HEROKU" not in names:
                return ""
            member = archive.extractfile("FAKE_HEROKU")
            return member.read().decode().strip() if member else ""
    except (tarfile.TarError, OSError):
        return "unreadable"


def _handler(fake: FakeHeroku) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            raw = self._body()
            if self.path.startswith("http://"):  # a proxied request to the app's web_url
                host = urlsplit(self.path).hostname or ""
                self._send(fake.app_answer(host), {"host": host})
                return
            if self.path.startswith("/__sources/"):
                key = self.path.rsplit("/", 1)[-1].removesuffix(".tgz")
                if method == "PUT" and key in fake.sources:
                    fake.sources[key] = raw
                    self._send(200, None)
                else:
                    self._send(404, None)
                return
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._send(400, {"id": "bad_request", "message": "Invalid JSON."})
                return
            path = urlsplit(self.path).path
            recorded = Recorded(method, path, body)
            fake.requests.append(recorded)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                status, answer, extra = fake.answer(method, path, body, headers)
            except _Refused as refused:
                status, answer, extra = refused.status, {"id": refused.code, "message": str(refused)}, {}
            recorded.status = status
            self._send(status, answer, extra)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


@contextmanager
def running(**settings: Any) -> Iterator[FakeHeroku]:
    with FakeHeroku(**settings) as fake:
        yield fake
