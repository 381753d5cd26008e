"""In-memory repositories: for tests, notebooks and the ``memory`` storage setting.

They keep documents (plain dicts), not live objects, so a caller's object and the
stored one never share state, exactly as with a database. Configurations are immutable
and are kept as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import config_identity, texts
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.ids import DeploymentId, PipelineId, TaskId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Transition
from uno.deployment.ports.access import ApiToken, IdempotencyClaim
from uno.deployment.ports.approvals import Decision
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import ConfigQuery, DeploymentQuery, PipelineQuery, fenced

Record = TypeVar("Record", bound=DeploymentResult)


def _newest_first(created_at: datetime, identifier: str) -> tuple[float, str]:
    return (-created_at.timestamp(), "".join(chr(0x10FFFF - ord(char)) for char in identifier))


def _no_leases(fence: Lease) -> bool:
    """Without a lease table, no fence holds: fenced writes need the store's leases."""
    return False


def _page(items: list[Any], limit: int, offset: int) -> list[Any]:
    return items[offset : offset + limit]


class MemoryConfigRepository:
    def __init__(self) -> None:
        self._configs: dict[DeploymentId, DeploymentConfig] = {}

    async def add(self, config: DeploymentConfig) -> Result[DeploymentConfig]:
        if config.id in self._configs:
            return Failure(ErrorDetails.conflict(f"configuration {config.id.value!r} already exists"))
        for stored in self._configs.values():
            if (stored.app_name, stored.environment) == (config.app_name, config.environment):
                return Failure(config_identity.taken(config, stored.id))
        if problem := texts.unstorable("configuration", config.to_document()):
            return Failure(problem)
        self._configs[config.id] = config.model_copy(deep=True)
        return Success(config)

    async def get(self, config_id: DeploymentId) -> DeploymentConfig | None:
        config = self._configs.get(config_id)
        return config.model_copy(deep=True) if config is not None else None

    async def save(self, config: DeploymentConfig) -> Result[DeploymentConfig]:
        stored = self._configs.get(config.id)
        if stored is None:
            return Failure(ErrorDetails.not_found("configuration", config.id.value))
        if stored.version != config.version:
            return Failure(_stale("configuration", config.id.value, config.version, stored.version))
        if problem := texts.unstorable("configuration", config.to_document()):
            return Failure(problem)
        saved = config.model_copy(update={"version": config.version + 1})
        self._configs[config.id] = saved.model_copy(deep=True)
        return Success(saved)

    async def delete(self, config_id: DeploymentId) -> bool:
        return self._configs.pop(config_id, None) is not None

    async def find(self, query: ConfigQuery) -> list[DeploymentConfig]:
        found = [
            config
            for config in self._configs.values()
            if (query.app_name is None or config.app_name == query.app_name)
            and (query.environment is None or config.environment == query.environment)
            and (query.platform is None or config.platform == query.platform)
        ]
        found.sort(key=lambda config: _newest_first(config.created_at, config.id.value))
        return [config.model_copy(deep=True) for config in _page(found, query.limit, query.offset)]


class _DocumentStore(Generic[Record]):
    """Versioned documents of one kind of record, keyed by id."""

    def __init__(self, kind: str, load: Callable[[dict[str, Any]], Record]) -> None:
        self._kind = kind
        self._load: Callable[[dict[str, Any]], Record] = load
        self._documents: dict[str, dict[str, Any]] = {}

    def add(self, record: Record) -> Result[Record]:
        if record.id.value in self._documents:
            return Failure(ErrorDetails.conflict(f"{self._kind} {record.id.value!r} already exists"))
        document = record.to_document()
        if problem := texts.unstorable(self._kind, document):
            return Failure(problem)
        self._documents[record.id.value] = document
        return Success(record)

    def get(self, identifier: str) -> Record | None:
        document = self._documents.get(identifier)
        return self._load(document) if document is not None else None

    def save(self, record: Record) -> Result[Record]:
        stored = self._documents.get(record.id.value)
        if stored is None:
            return Failure(ErrorDetails.not_found(self._kind, record.id.value))
        if stored["version"] != record.version:
            return Failure(_stale(self._kind, record.id.value, record.version, stored["version"]))
        if problem := texts.unstorable(self._kind, record.to_document()):
            return Failure(problem)
        record.version += 1
        self._documents[record.id.value] = record.to_document()
        return Success(record)

    def all(self) -> list[Record]:
        return [self._load(document) for document in self._documents.values()]


class MemoryPipelineRepository:
    """Pipelines as a structure document plus a state overlay written by ``record``.

    ``record`` touches only the subjects it names, so its cost does not grow with the
    pipeline's size; ``get`` lays the overlay over the document.
    """

    def __init__(self, holds: Callable[[Lease], bool] = _no_leases) -> None:
        self._holds = holds
        self._documents: dict[PipelineId, dict[str, Any]] = {}
        self._states: dict[PipelineId, dict[tuple[str, str], dict[str, Any]]] = {}
        self._events: defaultdict[PipelineId, list[PipelineEvent]] = defaultdict(list)

    async def add(self, pipeline: Pipeline) -> Result[Pipeline]:
        if pipeline.id in self._documents:
            return Failure(ErrorDetails.conflict(f"pipeline {pipeline.id.value!r} already exists"))
        document = pipeline.to_document()
        if problem := texts.unstorable("pipeline", document):
            return Failure(problem)
        self._documents[pipeline.id] = document
        self._states[pipeline.id] = {}
        return Success(pipeline)

    async def get(self, pipeline_id: PipelineId) -> Pipeline | None:
        document = self._documents.get(pipeline_id)
        if document is None:
            return None
        pipeline = Pipeline.from_document(document)
        pipeline.apply((kind, subject_id, state) for (kind, subject_id), state in self._states[pipeline_id].items())
        return pipeline

    async def save(self, pipeline: Pipeline) -> Result[Pipeline]:
        stored = self._documents.get(pipeline.id)
        if stored is None:
            return Failure(ErrorDetails.not_found("pipeline", pipeline.id.value))
        if stored["version"] != pipeline.version:
            return Failure(_stale("pipeline", pipeline.id.value, pipeline.version, stored["version"]))
        if problem := texts.unstorable("pipeline", pipeline.to_document()):
            return Failure(problem)
        pipeline.version += 1
        self._documents[pipeline.id] = pipeline.to_document()
        self._states[pipeline.id] = {}
        return Success(pipeline)

    async def find(self, query: PipelineQuery) -> list[Pipeline]:
        found = [
            pipeline
            for pipeline_id, document in self._documents.items()
            if query.deployment_id is None or document["deployment_id"] == query.deployment_id.value
            if (pipeline := await self.get(pipeline_id)) is not None
            if query.status is None or pipeline.status is query.status
        ]
        found.sort(key=lambda pipeline: _newest_first(pipeline.created_at, pipeline.id.value))
        return _page(found, query.limit, query.offset)

    async def record(
        self, pipeline_id: PipelineId, transitions: Sequence[Transition], fence: Lease | None = None
    ) -> Result[int]:
        if fence is not None and not self._holds(fence):
            return Failure(fenced(fence))
        document = self._documents.get(pipeline_id)
        if document is None:
            return Failure(ErrorDetails.not_found("pipeline", pipeline_id.value))
        states = self._states[pipeline_id]
        status = states.get(("pipeline", pipeline_id.value), document)["status"]
        if status in _ENDED:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline_id.value} already {status}"))
        for transition in transitions:
            event = transition.event
            key = (event.subject, event.subject_id)
            states[key] = {**states.get(key, {}), **transition.state}
            if event.subject == "pipeline":
                document["version"] += 1
            self._events[pipeline_id].append(event)
        return Success(int(document["version"]))

    async def events(self, pipeline_id: PipelineId, *, after: int = 0) -> list[PipelineEvent]:
        return list(self._events.get(pipeline_id, [])[after:])


_ENDED = frozenset({"succeeded", "failed", "canceled"})


class MemoryDeploymentResultRepository:
    def __init__(self, holds: Callable[[Lease], bool] = _no_leases) -> None:
        self._holds = holds
        self._store: _DocumentStore[DeploymentResult] = _DocumentStore("deployment", DeploymentResult.from_document)

    async def add(self, record: DeploymentResult) -> Result[DeploymentResult]:
        return self._store.add(record)

    async def get(self, deployment_id: DeploymentId) -> DeploymentResult | None:
        return self._store.get(deployment_id.value)

    async def save(self, record: DeploymentResult, fence: Lease | None = None) -> Result[DeploymentResult]:
        if fence is not None and not self._holds(fence):
            return Failure(fenced(fence))
        return self._store.save(record)

    async def stamp(self, deployment_id: DeploymentId) -> tuple[int, int] | None:
        return None  # reading the record itself costs no more here

    async def find(self, query: DeploymentQuery) -> list[DeploymentResult]:
        found = [record for record in self._store.all() if _matches(record, query)]
        found.sort(key=lambda record: _newest_first(record.created_at, record.id.value))
        return _page(found, query.limit, query.offset)


def _matches(record: DeploymentResult, query: DeploymentQuery) -> bool:
    return (
        (query.app_name is None or record.app_name == query.app_name)
        and (query.environment is None or record.environment == query.environment)
        and (query.status is None or record.status == query.status)
        and (query.kind is None or record.kind == query.kind)
        and (query.config_id is None or record.config_id == query.config_id)
        and (query.created_after is None or record.created_at >= query.created_after)
        and (query.created_before is None or record.created_at < query.created_before)
    )


def _stale(kind: str, identifier: str, version: int, stored: int) -> ErrorDetails:
    return ErrorDetails.conflict(
        f"{kind} {identifier!r} was changed by someone else (you have version {version}, stored is {stored}); "
        "read it again and retry",
        kind=kind,
        id=identifier,
        version=version,
        stored_version=stored,
    )


class MemoryDecisionRepository:
    def __init__(self) -> None:
        self._decisions: dict[tuple[PipelineId, TaskId], Decision] = {}

    async def decide(self, decision: Decision) -> Result[Decision]:
        key = (decision.pipeline_id, decision.task_id)
        existing = self._decisions.get(key)
        if existing is not None:
            verdict = "approved" if existing.approved else "rejected"
            return Failure(ErrorDetails.conflict(f"this gate was already {verdict} by {existing.by}"))
        self._decisions[key] = decision
        return Success(decision)

    async def get(self, pipeline_id: PipelineId, task_id: TaskId) -> Decision | None:
        return self._decisions.get((pipeline_id, task_id))


class MemoryTokenRepository:
    def __init__(self) -> None:
        self._tokens: dict[str, ApiToken] = {}

    async def add(self, token: ApiToken) -> Result[ApiToken]:
        if token.id in self._tokens or any(known.digest == token.digest for known in self._tokens.values()):
            return Failure(ErrorDetails.conflict(f"token {token.id!r} already exists"))
        self._tokens[token.id] = token
        return Success(token)

    async def by_digest(self, digest: str) -> ApiToken | None:
        return next((token for token in self._tokens.values() if token.digest == digest), None)

    async def get(self, token_id: str) -> ApiToken | None:
        return self._tokens.get(token_id)

    async def list(self) -> list[ApiToken]:
        return sorted(self._tokens.values(), key=lambda token: _newest_first(token.created_at, token.id))

    async def revoke(self, token_id: str, at: datetime) -> Result[ApiToken]:
        token = self._tokens.get(token_id)
        if token is None:
            return Failure(ErrorDetails.not_found("token", token_id))
        if token.revoked_at is None:
            token = self._tokens[token_id] = replace(token, revoked_at=at)
        return Success(token)


class MemoryIdempotencyRepository:
    def __init__(self) -> None:
        self._claims: dict[tuple[str, str], IdempotencyClaim] = {}

    async def claim(self, claim: IdempotencyClaim) -> Result[IdempotencyClaim]:
        return Success(self._claims.setdefault((claim.scope, claim.key), claim))

    async def release(self, scope: str, key: str, deployment_id: str) -> None:
        claim = self._claims.get((scope, key))
        if claim is not None and claim.deployment_id == deployment_id:
            del self._claims[(scope, key)]

    async def purge(self, older_than: datetime) -> int:
        old = [key for key, claim in self._claims.items() if claim.created_at < older_than]
        for key in old:
            del self._claims[key]
        return len(old)
