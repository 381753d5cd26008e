"""A FAKE Cloud Run Admin API v2 server: the part the gcp driver uses, on 127.0.0.1.

Not Cloud Run: services and revisions live in dicts and nothing runs. It speaks the REST
API the official ``google-cloud-run`` client sends (``transport="rest"``): services create,
get, patch and delete; revisions list, get and delete; operations get. Writes answer a
long-running ``Operation`` the client polls. Every request body and every answer is checked
against Cloud Run's discovery document (``cloud_run_contract``): a request that breaks it is
refused with 400 as the API would, and every violation (the fake's own included) is kept in
``violations`` for the tests to assert empty.

Behaviour modelled on the API's documented rules: a template's explicit ``revision`` must
start with ``<service>-``; a patch whose template names a new revision makes it; traffic
percents must add up to 100 and name revisions that exist; tags are unique; a revision
that serves traffic cannot be deleted (``FAILED_PRECONDITION``); labels and annotation keys
follow Google's and Kubernetes' rules. A new revision's ``Ready``
condition is ``CONDITION_RECONCILING`` until it has been read ``ready_after_reads`` times
(revision or operation reads), then ``CONDITION_SUCCEEDED``, or ``CONDITION_FAILED`` for an
image in ``broken_images`` (its operation then ends with that error, as Cloud Run's does).
``throttle(n)`` answers the next ``n`` requests with 429 ``RESOURCE_EXHAUSTED``;
``refuse(method, path_part, status)`` fails the next matching request; ``requests`` records
every request (method, path, body) for assertions, e.g. every traffic list the driver set.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import cloud_run_contract as contract

STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED"}
STATUS |= {403: "PERMISSION_DENIED", 500: "INTERNAL", 503: "UNAVAILABLE"}
RPC = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "FAILED_PRECONDITION": 9, "INTERNAL": 13}
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
REVISION_TYPE = "type.googleapis.com/google.cloud.run.v2.Revision"
_SERVICE = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+)/services(?:/([^/]+))?$")
_REVISION = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/]+)/revisions(?:/([^/]+))?$")
_OPERATION = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+)/operations/([^/]+)$")
# what a client sets on a Service (the rest is the server's)
WRITABLE = {
    "description", "labels", "annotations", "client", "clientVersion", "ingress", "launchStage",
    "binaryAuthorization", "template", "traffic", "scaling", "invokerIamDisabled", "defaultUriDisabled",
    "customAudiences", "buildConfig", "multiRegionSettings", "iapEnabled", "threatDetectionEnabled",
}  # fmt: skip


class Refusal(Exception):
    def __init__(self, status: int, message: str, rpc_status: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.rpc_status = rpc_status or STATUS.get(status, "UNKNOWN")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any = None
    made_revision: bool = False  # a create or patch that made a new revision (not a traffic move alone)


@dataclass
class FakeCloudRun:
    ready_after_reads: int = 1
    broken_images: set[str] = field(default_factory=set)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    url: str = ""
    _reads: dict[str, int] = field(default_factory=dict)
    _throttled: int = 0
    _refusals: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- test controls -------------------------------------------------------------------------
    def throttle(self, count: int) -> None:
        self._throttled = count

    def refuse(self, method: str, path_part: str, status: int) -> None:
        self._refusals.append((method, path_part, status))

    def traffic_of(self, service: str) -> dict[str, int]:
        """Revision short name -> percent of the service (the last path part of ``service`` suffices)."""
        found = next(value for key, value in self.services.items() if key.endswith(f"/services/{service}"))
        return {entry["revision"]: entry["percent"] for entry in found.get("traffic", []) if entry.get("percent")}

    def traffic_requests(self) -> list[dict[str, int]]:
        """Every traffic split the client asked for in a patch that made no revision (a move), in order."""
        return [
            {
                entry["revision"]: entry.get("percent", 0)
                for entry in request.body.get("traffic", [])
                if entry.get("percent")
            }
            for request in self.requests
            if request.method == "PATCH"
            and isinstance(request.body, dict)
            and "traffic" in request.body
            and not request.made_revision
        ]

    def revision_names(self) -> list[str]:
        return sorted(path.rsplit("/", 1)[1] for path in self.revisions)

    # -- the API ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, str]:
        with self._lock:
            self.requests.append(Request(method, path, query, copy.deepcopy(body)))
            if self._throttled > 0:
                self._throttled -= 1
                raise Refusal(429, "Quota exceeded for quota metric 'Write requests' (fake: throttled)")
            for index, (wanted, part, status) in enumerate(self._refusals):
                if wanted == method and part in path:
                    del self._refusals[index]
                    raise Refusal(status, f"refused by the test ({method} {path})")
            return self._route(method, path, query, body)

    def _check(self, schema: str, body: Any, *, numeric_enums: bool, request: bool) -> None:
        found = contract.problems(schema, body, numeric_enums=numeric_enums)
        self.violations += [("request " if request else "answer ") + problem for problem in found]
        if found and request:
            raise Refusal(400, "Invalid JSON payload received. " + "; ".join(found[:3]))

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, str]:
        numeric = "enum-encoding=int" in ";".join(query.get("$alt", []))
        if match := _SERVICE.match(path):
            parent, name = match[1], match[2]
            if method == "POST" and name is None:
                self._check("GoogleCloudRunV2Service", body, numeric_enums=numeric, request=True)
                return (
                    200,
                    self._create_service(parent, query.get("serviceId", [""])[0], body, numeric),
                    "GoogleLongrunningOperation",
                )
            full = f"{parent}/services/{name}"
            if method == "GET" and name:
                return 200, self._service(full), "GoogleCloudRunV2Service"
            if method == "PATCH" and name:
                self._check("GoogleCloudRunV2Service", body, numeric_enums=numeric, request=True)
                return 200, self._patch_service(full, body, numeric), "GoogleLongrunningOperation"
            if method == "DELETE" and name:
                return 200, self._delete_service(full), "GoogleLongrunningOperation"
        if match := _REVISION.match(path):
            service, name = match[1], match[2]
            if method == "GET" and name is None:
                self._service(service)
                found = [self._read_revision(key) for key in sorted(self.revisions) if key.startswith(service + "/")]
                return 200, {"revisions": found}, "GoogleCloudRunV2ListRevisionsResponse"
            full = f"{service}/revisions/{name}"
            if method == "GET":
                return 200, self._read_revision(full), "GoogleCloudRunV2Revision"
            if method == "DELETE":
                return 200, self._delete_revision(service, full), "GoogleLongrunningOperation"
        if (match := _OPERATION.match(path)) and method == "GET":
            return 200, self._operation(f"{match[1]}/operations/{match[2]}"), "GoogleLongrunningOperation"
        raise Refusal(404, f"fake Cloud Run does not serve {method} {path}")

    def _service(self, path: str) -> dict[str, Any]:
        if path not in self.services:
            raise Refusal(
                404,
                f"Resource '{path.rsplit('/', 1)[1]}' of kind 'SERVICE' in region '{path.split('/')[3]}'"
                f" in project '{path.split('/')[1]}' does not exist.",
            )
        return self.services[path]

    def _create_service(self, parent: str, service_id: str, body: dict[str, Any], numeric: bool) -> dict[str, Any]:
        path = f"{parent}/services/{service_id}"
        if not re.match(r"^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$", service_id):
            raise Refusal(400, f"service_id '{service_id}' must match ^[a-z]([a-z0-9-]{{0,47}}[a-z0-9])?$")
        if path in self.services:
            raise Refusal(409, f"Resource '{service_id}' already exists.")
        now = _now()
        service = {
            "name": path,
            "uid": str(uuid.uuid4()),
            "generation": "0",
            "createTime": now,
            "creator": "fake@example.com",
        }
        return self._apply(service, body, numeric, creating=True)

    def _patch_service(self, path: str, body: dict[str, Any], numeric: bool) -> dict[str, Any]:
        service = self._service(path)
        if body.get("name") not in (None, path):
            raise Refusal(400, "service.name does not match the URL")
        return self._apply(copy.deepcopy(service), body, numeric, creating=False)

    def _apply(self, service: dict[str, Any], body: dict[str, Any], numeric: bool, *, creating: bool) -> dict[str, Any]:
        """Validate and store a create or a full-replace patch; make the template's revision if it is new."""
        body = contract.enum_names("GoogleCloudRunV2Service", body) if numeric else body
        path = service["name"]
        short = path.rsplit("/", 1)[1]
        template = body.get("template") or {}
        if not template.get("containers"):
            raise Refusal(400, "template.containers: at least one container is required")
        revision = template.get("revision") or f"{short}-{int(service['generation']) + 1:05d}-{uuid.uuid4().hex[:3]}"
        if not revision.startswith(f"{short}-") or not re.match(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$", revision):
            raise Refusal(
                400, f"template.revision '{revision}' must start with '{short}-' and be at most 63 of a-z 0-9 -"
            )
        for container in template["containers"]:
            for variable in container.get("env", []):
                if variable.get("name") == "PORT":
                    raise Refusal(
                        400,
                        "The following reserved env names were provided: PORT."
                        " These values are automatically set by the system.",
                    )
        for where, found in (("service", body), ("template", template)):
            _check_metadata(where, found)
        revision_path = f"{path}/revisions/{revision}"
        new = revision_path not in self.revisions
        names = {key.rsplit("/", 1)[1] for key in self.revisions if key.startswith(path + "/")} | {revision}
        traffic = body.get("traffic") or [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
        _check_traffic(traffic, names, short)
        for key in WRITABLE:
            service.pop(key, None)
        service |= {key: copy.deepcopy(value) for key, value in body.items() if key in WRITABLE}
        service["traffic"] = copy.deepcopy(traffic)
        service["template"] = copy.deepcopy(template)
        service["generation"] = str(int(service["generation"]) + 1)
        service["updateTime"] = _now()
        service["etag"] = f'"{uuid.uuid4().hex}"'
        service["uri"] = f"https://{short}-abcdefghij-ew.a.run.app"
        if new:
            self.requests[-1].made_revision = True
            self.revisions[revision_path] = self._revision(service, template, revision_path)
            self._reads[revision_path] = 0
            service["latestCreatedRevision"] = revision_path
        self.services[path] = service
        self._settle(path)
        return self._new_operation(path, revision_path if new else None, SERVICE_TYPE)

    def _revision(self, service: dict[str, Any], template: dict[str, Any], path: str) -> dict[str, Any]:
        labels = {**template.get("labels", {}), "cloud.googleapis.com/location": path.split("/")[3]}
        found = {
            "name": path,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "labels": labels,
            "createTime": _now(),
            "updateTime": _now(),
            "service": service["name"],
            "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
            "maxInstanceRequestConcurrency": 80,
            "timeout": "300s",
            "conditions": [{"type": "Ready", "state": "CONDITION_RECONCILING", "lastTransitionTime": _now()}],
            "reconciling": True,
            "etag": f'"{uuid.uuid4().hex}"',
            "logUri": "https://console.cloud.google.com/logs/viewer",
        }
        for key in ("annotations", "scaling", "containers", "serviceAccount", "volumes", "sessionAffinity"):
            if key in template:
                found[key] = copy.deepcopy(template[key])
        return found

    def _read_revision(self, path: str) -> dict[str, Any]:
        if path not in self.revisions:
            raise Refusal(404, f"Revision named '{path.rsplit('/', 1)[1]}' does not exist.")
        self._reads[path] = self._reads.get(path, 0) + 1
        found = self.revisions[path]
        ready = found["conditions"][0]
        if ready["state"] == "CONDITION_RECONCILING" and self._reads[path] >= self.ready_after_reads:
            broken = [item["image"] for item in found.get("containers", []) if item["image"] in self.broken_images]
            if broken:
                ready |= {
                    "state": "CONDITION_FAILED",
                    "revisionReason": "HEALTH_CHECK_CONTAINER_ERROR",
                    "message": (
                        "The user-provided container failed the configured startup probe checks. Logs for this"
                        f" revision might contain more information. (image {broken[0]})"
                    ),
                }
            else:
                ready["state"] = "CONDITION_SUCCEEDED"
            ready["lastTransitionTime"] = _now()
            found["reconciling"] = False
            self._settle(found["service"])
        return found

    def _settle(self, service_path: str) -> None:
        """The service's status fields from its revisions."""
        service = self.services.get(service_path)
        if service is None:
            return
        ready = [
            key
            for key, value in self.revisions.items()
            if key.startswith(service_path + "/") and value["conditions"][0]["state"] == "CONDITION_SUCCEEDED"
        ]
        if ready:
            service["latestReadyRevision"] = max(ready, key=lambda key: self.revisions[key]["createTime"] + key)
        service["trafficStatuses"] = [
            {key: entry[key] for key in ("type", "revision", "percent", "tag") if key in entry}
            for entry in service.get("traffic", [])
        ]
        state = "CONDITION_SUCCEEDED" if service.get("latestCreatedRevision", "") in ready else "CONDITION_RECONCILING"
        service["terminalCondition"] = {"type": "Ready", "state": state}
        service["observedGeneration"] = service["generation"]

    def _delete_service(self, path: str) -> dict[str, Any]:
        found = self._service(path)
        for key in [key for key in self.revisions if key.startswith(path + "/")]:
            del self.revisions[key]
        del self.services[path]
        return self._new_operation(path, None, SERVICE_TYPE, result=found)

    def _delete_revision(self, service_path: str, path: str) -> dict[str, Any]:
        found = self._read_revision(path)
        service = self._service(service_path)
        name = path.rsplit("/", 1)[1]
        serving = [
            entry for entry in service.get("traffic", []) if entry.get("revision") == name and entry.get("percent")
        ]
        if serving:
            raise Refusal(400, f"Revision '{name}' is receiving traffic and cannot be deleted.", "FAILED_PRECONDITION")
        del self.revisions[path]
        return self._new_operation(path, None, REVISION_TYPE, result=found)

    def _new_operation(
        self, path: str, revision: str | None, kind: str, result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        location = "/".join(path.split("/")[:4])
        name = f"{location}/operations/{uuid.uuid4()}"
        self.operations[name] = {"target": path, "revision": revision, "type": kind, "result": result}
        return self._operation(name)

    def _operation(self, name: str) -> dict[str, Any]:
        if name not in self.operations:
            raise Refusal(404, f"Operation '{name}' does not exist.")
        held = self.operations[name]
        subject = held["result"] or self.services.get(held["target"]) or {}
        answer: dict[str, Any] = {"name": name, "metadata": {"@type": held["type"], **subject}, "done": True}
        revision = held["revision"]
        if revision is not None and revision in self.revisions:
            state = self._read_revision(revision)["conditions"][0]
            if state["state"] == "CONDITION_RECONCILING":
                return {**answer, "done": False}
            if state["state"] == "CONDITION_FAILED":
                return {**answer, "error": {"code": RPC["FAILED_PRECONDITION"], "message": state["message"]}}
        return {**answer, "response": {"@type": held["type"], **(self.services.get(held["target"]) or subject)}}


_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_ANNOTATION_KEY = re.compile(
    r"^(?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
)
_RESERVED = ("run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev")


def _check_traffic(traffic: list[dict[str, Any]], names: set[str], service: str) -> None:
    """Percents add up to 100, named revisions exist, tags are unique and fit one DNS label with the service."""
    total, tags = 0, set()
    for entry in traffic:
        total += int(entry.get("percent", 0))
        if entry.get("type") == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" and entry.get("revision") not in names:
            raise Refusal(400, f"Revision named '{entry.get('revision')}' does not exist.")
        if entry.get("tag"):
            if not re.match(r"^[a-z]([a-z0-9-]*[a-z0-9])?$", entry["tag"]) or len(entry["tag"]) + len(service) > 46:
                raise Refusal(400, f"Tag '{entry['tag']}' is not valid: with the service name, at most 46 characters.")
            if entry["tag"] in tags:
                raise Refusal(400, f"Tag '{entry['tag']}' is used more than once.")
            tags.add(entry["tag"])
    if total != 100:
        raise Refusal(400, f"Traffic percents must add up to 100, not {total}.")


def _check_metadata(where: str, found: dict[str, Any]) -> None:
    """Google's label rules and Kubernetes' annotation key rules, as Cloud Run enforces them."""
    for key, value in found.get("labels", {}).items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise Refusal(400, f"{where}.labels: '{key}: {value}' is not a valid label")
    for key in found.get("annotations", {}):
        if not _ANNOTATION_KEY.match(key):
            raise Refusal(400, f"{where}.annotations: '{key}' is not a valid annotation key")
        if key.split("/", 1)[0] in _RESERVED:
            raise Refusal(400, f"{where}.annotations: '{key}' is in a namespace Cloud Run API v2 rejects")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _handler(fake: FakeCloudRun) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
                status, answer, schema = fake.handle(self.command, parts.path, query, body)
                fake._check(schema, answer, numeric_enums=False, request=False)
            except Refusal as refusal:
                status = refusal.status
                answer = {"error": {"code": refusal.status, "message": refusal.message, "status": refusal.rpc_status}}
            except json.JSONDecodeError as error:
                status, answer = (
                    400,
                    {"error": {"code": 400, "message": f"Invalid JSON payload: {error}", "status": "INVALID_ARGUMENT"}},
                )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


@contextmanager
def serving(fake: FakeCloudRun | None = None) -> Iterator[FakeCloudRun]:
    fake = fake or FakeCloudRun()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, name="fake-cloud-run", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
