"""A FAKE Kubernetes API server: the part of the API the kubernetes driver uses, on 127.0.0.1.

Not Kubernetes: objects live in a dict, there is no scheduler and no pod. It speaks
server-side apply (``PATCH`` with ``application/apply-patch+yaml``, creating or updating,
with ``fieldManager``; with ``dryRun=All`` it answers what it would store and stores nothing, as the
real API server does), JSON merge patches, ``GET`` of one object, lists by equality label
selector and ``DELETE``, answering with the API's JSON shapes and ``Status`` errors.

A Deployment's status is simulated: after a change, it reports its pods ready once it has
been read ``ready_after_reads`` times (default 0: at once; 1: the first read shows them starting).
An image listed in ``broken_images`` never becomes ready, and after ``deadline_reads``
reads its Deployment reports ``ProgressDeadlineExceeded``, as a real controller does once
``progressDeadlineSeconds`` pass. Pods are listed (never stored): a Deployment's pods are
made up from its template when they are read, ready with it, or, for an image in
``failing_images``, with their container waiting for the reason given there
(``CrashLoopBackOff`` after exiting with code 1, ``ImagePullBackOff`` ...) as the kubelet
reports it; a crashed container's previous log (``GET .../pods/NAME/log?previous=true``) is
the image's ``pod_logs``. ``refuse`` makes the next matching request fail with a
status (403, 409, 422 ...), ``stall`` makes matching requests hang until ``release`` (a
timeout), and ``requests`` records every request for assertions.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PLURALS = {
    "deployments": "Deployment",
    "services": "Service",
    "poddisruptionbudgets": "PodDisruptionBudget",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "networkpolicies": "NetworkPolicy",
    "ingresses": "Ingress",
    "pods": "Pod",
}


@dataclass
class Request:
    method: str
    kind: str
    namespace: str
    name: str | None
    query: dict[str, list[str]]
    content_type: str
    body: Any = None
    subresource: str = ""  # "log" for a pod's log


@dataclass
class FakeKubeApi:
    """The state and the knobs of the fake; ``serve`` runs it."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    ready_after_reads: int = 0
    deadline_reads: int = 3
    broken_images: set[str] = field(default_factory=set)
    failing_images: dict[str, str] = field(default_factory=dict)  # image -> the reason its container waits
    pod_logs: dict[str, list[str]] = field(default_factory=dict)  # image -> what its container printed
    refuse: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)  # (method, kind) -> status
    stall: set[tuple[str, str]] = field(default_factory=set)  # (method, kind) that hang until released
    released: threading.Event = field(default_factory=threading.Event)
    _reads: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def deployment(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.objects.get(("Deployment", namespace, name))

    def service(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.objects.get(("Service", namespace, name))

    def ingress(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.objects.get(("Ingress", namespace, name))

    def names(self, kind: str) -> list[str]:
        return sorted(name for (found, _, name) in self.objects if found == kind)

    def kubeconfig(self, path: Path) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "default"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(document))  # JSON is YAML
        return path

    # what the handler calls, under the lock

    def handle(self, request: Request) -> tuple[int, Any]:
        if (request.method, request.kind) in self.stall:
            self.released.wait(timeout=10)
        with self._lock:
            self.requests.append(request)
            refused = self.refuse.pop((request.method, request.kind), None)
            if refused is not None:
                return _status(*refused)
            if request.method == "GET" and request.kind == "Pod":
                return self._pods(request)
            if request.method == "GET" and request.name is None:
                return 200, self._list(request)
            key = (request.kind, request.namespace, request.name or "")
            if request.method == "GET":
                return self._get(key)
            if request.method == "DELETE":
                removed = self.objects.pop(key, None)
                return (200, removed) if removed else _status(404, "NotFound", f"{request.name} not found")
            if request.method == "PATCH" and request.content_type.startswith("application/apply-patch"):
                return self._apply(key, request)
            if request.method == "PATCH" and request.content_type == "application/merge-patch+json":
                return self._merge(key, request.body)
            return _status(415, "UnsupportedMediaType", f"the fake does not speak {request.content_type}")

    def _list(self, request: Request) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in request.query.get("labelSelector", [""])[0].split(",") if part)
        items = []
        for (kind, namespace, _), item in sorted(self.objects.items()):
            labels = item["metadata"].get("labels", {})
            if (
                kind == request.kind
                and namespace == request.namespace
                and all(labels.get(key) == value for key, value in wanted.items())
            ):
                items.append(self._observed((kind, namespace, item["metadata"]["name"]), count=False))
        return {"kind": f"{request.kind}List", "apiVersion": "v1", "items": items}

    def _pods(self, request: Request) -> tuple[int, Any]:
        """Pods made up from the Deployments' templates; a pod's log as text (``subresource`` log)."""
        wanted = dict(part.split("=", 1) for part in request.query.get("labelSelector", [""])[0].split(",") if part)
        pods = []
        for (kind, namespace, name), item in sorted(self.objects.items()):
            if kind != "Deployment" or namespace != request.namespace:
                continue
            template = item["spec"]["template"]
            labels = template["metadata"].get("labels", {})
            if all(labels.get(key) == value for key, value in wanted.items()):
                pods += [self._pod(name, namespace, template, index) for index in range(int(item["spec"]["replicas"]))]
        if request.name is None:
            return 200, {"kind": "PodList", "apiVersion": "v1", "items": pods}
        found = [pod for pod in pods if pod["metadata"]["name"] == request.name]
        if not found:
            return _status(404, "NotFound", f'pods "{request.name}" not found')
        if request.subresource != "log":
            return 200, found[0]
        image = found[0]["spec"]["containers"][0]["image"]
        if request.query.get("previous") != ["true"] or self.failing_images.get(image) != "CrashLoopBackOff":
            return _status(400, "BadRequest", f'previous terminated container "app" in pod "{request.name}" not found')
        lines = self.pod_logs.get(image, [])
        tail = int(request.query.get("tailLines", [str(len(lines))])[0])
        return 200, "".join(f"{line}\n" for line in lines[-tail:] if tail)

    def _pod(self, deployment: str, namespace: str, template: dict[str, Any], index: int) -> dict[str, Any]:
        container = template["spec"]["containers"][0]
        waiting = self.failing_images.get(container["image"])
        status: dict[str, Any] = {"name": container["name"], "image": container["image"], "restartCount": 0}
        if waiting == "CrashLoopBackOff":
            status |= {
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": waiting, "message": "back-off 40s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        elif waiting is not None:
            message = f'Back-off pulling image "{container["image"]}"'
            status |= {"ready": False, "state": {"waiting": {"reason": waiting, "message": message}}}
        else:
            status |= {"ready": True, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
        metadata = copy.deepcopy(template["metadata"])
        metadata |= {"name": f"{deployment}-7d9f-{index}", "namespace": namespace}
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": copy.deepcopy(template["spec"]),
            "status": {"phase": "Running" if waiting is None else "Pending", "containerStatuses": [status]},
        }

    def _get(self, key: tuple[str, str, str]) -> tuple[int, dict[str, Any]]:
        if key not in self.objects:
            return _status(404, "NotFound", f'{key[0].lower()}s "{key[2]}" not found')
        return 200, self._observed(key, count=True)

    def _apply(self, key: tuple[str, str, str], request: Request) -> tuple[int, dict[str, Any]]:
        if not request.query.get("fieldManager"):
            return _status(422, "Invalid", "fieldManager is required for apply requests")
        body = request.body
        if body.get("kind") != key[0] or body["metadata"].get("name") != key[2]:
            return _status(400, "BadRequest", "the body does not name the object of the URL")
        dry_run = request.query.get("dryRun", [None])[0]
        if dry_run not in (None, "All"):
            return _status(400, "BadRequest", f"invalid dry run value {dry_run!r}: only All is supported")
        existing = self.objects.get(key)
        if existing is None:
            created = copy.deepcopy(body)
            created["metadata"].update(uid=str(uuid.uuid4()), generation=1, resourceVersion="1")
            if dry_run:
                return 201, created
            self.objects[key] = created
            self._reads[key] = 0
            return 201, copy.deepcopy(created)
        updated = copy.deepcopy(existing)
        for part in ("labels", "annotations"):
            merged = {**existing["metadata"].get(part, {}), **body["metadata"].get(part, {})}
            if merged:
                updated["metadata"][part] = merged
        updated["spec"] = copy.deepcopy(body.get("spec", {}))
        if dry_run:
            return 200, updated
        return 200, self._store(key, existing, updated)

    def _merge(self, key: tuple[str, str, str], patch: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        existing = self.objects.get(key)
        if existing is None:
            return _status(404, "NotFound", f'{key[0].lower()}s "{key[2]}" not found')
        return 200, self._store(key, existing, _merged(copy.deepcopy(existing), patch))

    def _store(self, key: tuple[str, str, str], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        metadata = after["metadata"]
        if before.get("spec") != after.get("spec"):
            metadata["generation"] = int(metadata.get("generation", 1)) + 1
            self._reads[key] = 0
        metadata["resourceVersion"] = str(int(metadata.get("resourceVersion", "1")) + 1)
        self.objects[key] = after
        return copy.deepcopy(after)

    def _observed(self, key: tuple[str, str, str], *, count: bool) -> dict[str, Any]:
        """The object as read, with a Deployment's simulated status."""
        item = copy.deepcopy(self.objects[key])
        if key[0] != "Deployment":
            return item
        if count:
            self._reads[key] = self._reads.get(key, 0) + 1
        reads = self._reads.get(key, 0)
        replicas = int(item["spec"].get("replicas", 1))
        image = item["spec"]["template"]["spec"]["containers"][0]["image"]
        broken = image in self.broken_images or image in self.failing_images
        ready = 0 if broken or reads < self.ready_after_reads else replicas
        progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        if broken and reads >= self.deadline_reads:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{key[2]}-7d9f" has timed out progressing.',
            }
        item["status"] = {
            "observedGeneration": item["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [progressing],
        }
        return item


def _merged(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


def _parse(path: str) -> tuple[str, str, str | None, str] | None:
    """(kind, namespace, name, subresource) of a namespaced URL path, or None."""
    parts = [part for part in path.split("/") if part]
    if "namespaces" not in parts:
        return None
    at = parts.index("namespaces")
    rest = parts[at + 1 :]
    if len(rest) < 2 or rest[1] not in PLURALS:
        return None
    return PLURALS[rest[1]], rest[0], rest[2] if len(rest) > 2 else None, rest[3] if len(rest) > 3 else ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self) -> None:
        split = urlsplit(self.path)
        target = _parse(split.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if target is None:
            code, answer = _status(404, "NotFound", f"the fake does not serve {split.path}")
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                code, answer = _status(400, "BadRequest", "the body is not JSON")
            else:
                kind, namespace, name, subresource = target
                content_type = (self.headers.get("Content-Type") or "").split(";")[0]
                query = parse_qs(split.query)
                request = Request(self.command, kind, namespace, name, query, content_type, body, subresource)
                code, answer = self.server.api.handle(request)
        text = isinstance(answer, str)  # a pod's log
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up waiting
            self.wfile.write(data)

    do_GET = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: FakeKubeApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


@contextmanager
def serve(api: FakeKubeApi | None = None) -> Iterator[FakeKubeApi]:
    """Run the fake on a free port of 127.0.0.1 until the block ends."""
    api = api or FakeKubeApi()
    server = _Server(api)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
