"""Checking manifests before anything is applied: the Kubernetes schemas, then what they miss.

The schemas are kubernetes-validate's *strict* ones (offline, 1.25 to 1.37), so an unknown
or misspelt field is caught, not silently dropped by the API server. The semantic checks
cover what a schema cannot say: names the API would refuse, an image that is set,
quantities that parse, ports in range, label values, selectors that match the pod labels
(a Deployment whose selector misses its pods is refused; a Service whose selector misses
them silently serves nothing). Every problem is a ``VALIDATION_ERROR`` naming the object
(``Deployment/shop-blue``) and the field (``spec.template.spec.containers[0].image``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from typing import Any

import kubernetes_validate

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import quantities

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SERVICE_NAMED = {"Service"}  # kinds whose names must be DNS-1035 labels (they become DNS names)


@cache
def supported_versions() -> tuple[str, ...]:
    """The Kubernetes versions (``1.25`` ...) whose schemas this installation carries."""
    found = {".".join(version.split(".")[:2]) for version in kubernetes_validate.utils.all_versions()}
    return tuple(sorted(found, key=lambda version: int(version.split(".")[1])))


def check_version(version: str) -> Result[None]:
    if version in supported_versions():
        return Success(None)
    known = ", ".join(supported_versions())
    message = f"no Kubernetes {version} schemas in this installation (it has {known})"
    return Failure(ErrorDetails.validation("custom_settings.kubernetes_version", message))


def validate(manifests: Iterable[Mapping[str, Any]], version: str) -> Result[None]:
    """The first problem in ``manifests`` against Kubernetes ``version`` (``1.37``), if any."""
    checked = check_version(version)
    if isinstance(checked, Failure):
        return checked
    for manifest in manifests:
        problem = _problem_in(json.dumps(manifest, sort_keys=True), version)
        if problem is not None:
            return Failure(problem)
    return Success(None)


@lru_cache(maxsize=512)
def _problem_in(text: str, version: str) -> ErrorDetails | None:
    """Checking is pure and a schema check takes milliseconds: the same manifest is checked once."""
    manifest = json.loads(text)
    return _schema_problem(manifest, version) or _semantic_problem(manifest)


def describe(manifest: Mapping[str, Any]) -> str:
    return f"{manifest.get('kind', '?')}/{manifest.get('metadata', {}).get('name', '?')}"


def _problem(manifest: Mapping[str, Any], field: str, message: str, **context: Any) -> ErrorDetails:
    where = describe(manifest)
    return ErrorDetails(
        ErrorCode.VALIDATION_ERROR, f"{where}: {field}: {message}", {"field": field, "object": where, **context}
    )


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_problem(manifest: Mapping[str, Any], version: str) -> ErrorDetails | None:
    try:
        kubernetes_validate.validate(dict(manifest), version, strict=True)
    except kubernetes_validate.ValidationError as invalid:
        field = _path(invalid.path) or "(the object)"
        message = f"{invalid.message} (Kubernetes {version} schema)"
        return _problem(manifest, field, message, kubernetes_version=version)
    except kubernetes_validate.SchemaNotFoundError:
        message = f"Kubernetes {version} has no {manifest.get('apiVersion')} {manifest.get('kind')}"
        return _problem(manifest, "apiVersion", message, kubernetes_version=version)
    return None


def _semantic_problem(manifest: Mapping[str, Any]) -> ErrorDetails | None:
    metadata = manifest.get("metadata", {})
    name = str(metadata.get("name", ""))
    kind = str(manifest.get("kind", ""))
    pattern, rule = (
        (_DNS_1035, "a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, at most 63")
        if kind in _SERVICE_NAMED
        else (_DNS_SUBDOMAIN, "a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253")
    )
    if not pattern.match(name):
        return _problem(manifest, "metadata.name", f"{name!r} is not {rule}")
    if not _DNS_LABEL.match(str(metadata.get("namespace", "default"))):
        return _problem(manifest, "metadata.namespace", "is not a namespace name")
    labelled = _labels_problem(manifest, "metadata.labels", metadata.get("labels", {}))
    if labelled is not None:
        return labelled
    checks = {"Deployment": _deployment_problem, "Service": _service_problem}
    check = checks.get(kind)
    return check(manifest) if check else None


def _labels_problem(manifest: Mapping[str, Any], field: str, labels: Mapping[str, str]) -> ErrorDetails | None:
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1]
        if len(name) > 63 or not _LABEL_NAME.match(name):
            return _problem(manifest, f"{field}.{key}", "is not a valid label name")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            return _problem(manifest, f"{field}.{key}", f"{value!r} is not a valid label value (at most 63 characters)")
    return None


def _deployment_problem(manifest: Mapping[str, Any]) -> ErrorDetails | None:
    spec = manifest["spec"]
    template = spec["template"]
    pod_labels = template.get("metadata", {}).get("labels", {})
    labelled = _labels_problem(manifest, "spec.template.metadata.labels", pod_labels)
    if labelled is not None:
        return labelled
    selector = spec["selector"].get("matchLabels", {})
    if not selector:
        return _problem(manifest, "spec.selector.matchLabels", "selects every pod of the namespace")
    missed = _missed(selector, pod_labels)
    if missed:
        return _problem(manifest, "spec.selector.matchLabels", f"does not match the pod labels ({missed})")
    for index, container in enumerate(template["spec"]["containers"]):
        problem = _container_problem(manifest, f"spec.template.spec.containers[{index}]", container)
        if problem is not None:
            return problem
    return None


def _container_problem(manifest: Mapping[str, Any], field: str, container: Mapping[str, Any]) -> ErrorDetails | None:
    if not str(container.get("image", "")).strip():
        return _problem(manifest, f"{field}.image", "no image is set")
    if not _DNS_LABEL.match(str(container.get("name", ""))):
        return _problem(manifest, f"{field}.name", "is not a DNS label")
    for index, port in enumerate(container.get("ports", [])):
        number = int(port.get("containerPort", 0))
        if not 1 <= number <= 65535:
            return _problem(manifest, f"{field}.ports[{index}].containerPort", f"{number} is not from 1 to 65535")
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        for resource, quantity in resources.get(section, {}).items():
            try:
                quantities.parse_quantity(str(quantity))
            except quantities.QuantityError as error:
                return _problem(manifest, f"{field}.resources.{section}.{resource}", str(error))
    for resource, request in resources.get("requests", {}).items():
        limit = resources.get("limits", {}).get(resource)
        if limit is not None and quantities.parse_quantity(str(request)) > quantities.parse_quantity(str(limit)):
            return _problem(manifest, f"{field}.resources.requests.{resource}", f"{request} is above its limit {limit}")
    return None


def _service_problem(manifest: Mapping[str, Any]) -> ErrorDetails | None:
    spec = manifest["spec"]
    if not spec.get("selector"):
        return _problem(manifest, "spec.selector", "a Service without a selector serves nothing uno-deploy runs")
    for index, port in enumerate(spec.get("ports", [])):
        if not 1 <= int(port.get("port", 0)) <= 65535:
            return _problem(manifest, f"spec.ports[{index}].port", "must be from 1 to 65535")
    return None


def _missed(selector: Mapping[str, str], labels: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(selector.items()) if labels.get(key) != value)


def check_selects(service: Mapping[str, Any], deployment: Mapping[str, Any]) -> ErrorDetails | None:
    """A Service whose selector misses the pods of the Deployment it is rendered for."""
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    missed = _missed(service["spec"]["selector"], pod_labels)
    if missed:
        return _problem(service, "spec.selector", f"does not select the pods of {describe(deployment)} ({missed})")
    return None
