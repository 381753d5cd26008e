"""Request and response bodies: strict in (unknown fields are refused), plain JSON out.

Request bodies only check shapes; the services check meaning (a DNS-label app name,
min <= max, no secret values) and answer with a precise field path, so the rules live
in one place for the Python API, the CLI and HTTP alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from uno.deployment.domain import texts
from uno.deployment.domain.pipelines import DEFAULT_TASK_TIMEOUT, MAX_RETRIES, MAX_TASK_TIMEOUT


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Section = dict[str, Any]


def _line_or_none(value: str | None) -> str | None:
    return None if value is None else texts.line(value)


Filter = Annotated[str | None, Query(max_length=200), AfterValidator(_line_or_none)]
"""A query filter: a name, so a single line (no NUL, no control character)."""
PathName = Annotated[str, Path(max_length=200), AfterValidator(texts.line)]
"""A name in a path (``/history/{app_name}/{environment}``): a single line."""
JsonObject = Annotated[dict[str, Any], AfterValidator(texts.json_object)]
"""A task's ``params``: the limits of ``domain.texts``. Checked here because
``PipelineService.add_task`` does not check them yet (its repositories refuse what no
store can hold, for the Python API)."""


class ConfigCreate(_Strict):
    """A configuration to create; what is not given comes from the environment's profile."""

    app_name: str = Field(max_length=200)
    app_version: str = Field(max_length=200)
    environment: str = Field(max_length=40, examples=["dev", "test", "staging", "production"])
    platform: str | None = Field(default=None, max_length=40, examples=["local", "kubernetes"])
    strategy: str | None = Field(default=None, max_length=40, examples=["rolling", "blue_green", "canary"])
    database: Section | None = None
    resources: Section | None = None
    network: Section | None = None
    security: Section | None = None
    monitoring: Section | None = None
    testing: Section | None = None
    custom_settings: Section | None = None
    environment_variables: dict[str, str] | None = None
    secrets: list[str] | None = None
    build_command: list[str] | None = None
    auto_rollback: bool | None = None
    description: str | None = Field(default=None, max_length=2000)


class ConfigReplace(ConfigCreate):
    """A whole configuration (PUT): what is left out goes back to the environment's profile."""


class ConfigPatch(_Strict):
    """The settings to change (PATCH): sections merge, ``null`` removes a setting."""

    app_version: str | None = Field(default=None, max_length=200)
    platform: str | None = Field(default=None, max_length=40)
    strategy: str | None = Field(default=None, max_length=40)
    database: Section | None = None
    resources: Section | None = None
    network: Section | None = None
    security: Section | None = None
    monitoring: Section | None = None
    testing: Section | None = None
    custom_settings: Section | None = None
    environment_variables: dict[str, str] | None = None
    secrets: list[str] | None = None
    build_command: list[str] | None = None
    auto_rollback: bool | None = None
    description: str | None = Field(default=None, max_length=2000)
    expected_version: int | None = Field(default=None, ge=1, description="Apply only to this version (409 otherwise).")


class ConfigDerive(_Strict):
    environment: str = Field(max_length=40)
    changes: dict[str, Any] = Field(default_factory=dict, description="Settings to change in the new configuration.")


class ConfigOut(BaseModel):
    id: str
    app_name: str
    app_version: str
    environment: str
    platform: str
    strategy: str
    description: str
    database: Section | None
    resources: Section
    network: Section
    security: Section
    monitoring: Section
    testing: Section
    build_command: list[str] | None
    auto_rollback: bool
    custom_settings: Section
    environment_variables: dict[str, str]
    secrets: list[str]
    given_fields: list[str]
    derived_from: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class ConfigPage(BaseModel):
    items: list[ConfigOut]
    limit: int
    offset: int
    next_offset: int | None


class DeployRequest(_Strict):
    config_id: str = Field(max_length=128, examples=["cfg-01jz8x3v5q6w7e8r9t0y1u2i3o"])
    description: str = Field(default="", max_length=2000)
    strict: bool | None = Field(
        default=None,
        description="Refuse the deploy when the platform would not honour a setting it asks for "
        "(default: by environment, production unless the server's settings say otherwise).",
    )
    config_version: int | None = Field(
        default=None,
        ge=1,
        description="Deploy only this version of the configuration: 409 when it has changed since "
        "(what `uno-deploy deploy -f` sends after storing its file).",
    )


class RollbackRequest(_Strict):
    deployment_id: str = Field(max_length=128)
    restore_database: bool = False
    to: str | None = Field(default=None, max_length=128, description="An earlier deployment to restore instead.")


class CancelRequest(_Strict):
    reason: str = Field(default="", max_length=2000)


class PromoteRequest(_Strict):
    full: bool = Field(default=False, description="Skip the remaining steps: all traffic to the canary now.")


class AbortRequest(_Strict):
    reason: str = Field(default="", max_length=2000)


class NotHonoured(BaseModel):
    """A setting the deployment asks for that its platform does not honour (``field`` is its path)."""

    field: str
    message: str


class Accepted(BaseModel):
    """A deployment or rollback that started: follow it at ``status_url``."""

    deployment_id: str
    status: str
    status_url: str
    pipeline_id: str | None
    kind: str
    created_at: datetime
    not_honoured: list[NotHonoured] = Field(default_factory=list)
    deprecated: list[NotHonoured] = Field(
        default_factory=list, description="Deprecated custom_settings keys used, with the setting that replaces each."
    )


class DeploymentStatusOut(BaseModel):
    deployment_id: str
    status: str
    success: bool
    message: str
    progress: float
    current_stage: str | None
    current_task: str | None
    current_task_message: str | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pipeline_id: str | None
    not_honoured: list[NotHonoured] = Field(default_factory=list)


class DeploymentOut(BaseModel):
    id: str
    config_id: str
    app_name: str
    app_version: str
    environment: str
    platform: str
    strategy: str
    kind: str
    status: str
    success: bool
    message: str
    description: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pipeline_id: str | None
    rollback_of: str | None
    reached_platform: bool
    details: dict[str, Any]
    version: int


class DeploymentPage(BaseModel):
    items: list[DeploymentOut]
    limit: int
    offset: int
    next_offset: int | None


class PipelineCreate(_Strict):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    deployment_id: str = Field(max_length=128, description="The configuration or deployment it belongs to.")


class StageCreate(_Strict):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    fail_fast: bool = True


class TaskCreate(_Strict):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    dependencies: list[str] = Field(default_factory=list, max_length=1000)
    action: str | None = Field(default=None, max_length=100)
    params: JsonObject = Field(default_factory=dict)
    timeout: float = Field(default=DEFAULT_TASK_TIMEOUT, gt=0, le=MAX_TASK_TIMEOUT)
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    skip_on_failure: bool = False


class Decide(_Strict):
    comment: str = Field(default="", max_length=2000)


class TaskOut(BaseModel):
    id: str
    name: str
    action: str
    description: str
    params: dict[str, Any]
    dependencies: list[str]
    timeout: float
    retries: int
    skip_on_failure: bool
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    outputs: dict[str, Any]
    authorized_by: str | None = Field(
        default=None, description="The admin who defined this free-form task (command, http_check...)."
    )


class StageOut(BaseModel):
    id: str
    name: str
    description: str
    fail_fast: bool
    tasks: list[TaskOut]
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    message: str


class PipelineOut(BaseModel):
    id: str
    name: str
    description: str
    deployment_id: str
    config_id: str
    stages: list[StageOut]
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    canceled_by: str | None
    version: int


class PipelinePage(BaseModel):
    items: list[PipelineOut]
    limit: int
    offset: int
    next_offset: int | None


class EventOut(BaseModel):
    sequence: int
    at: datetime
    pipeline_id: str
    subject: str
    subject_id: str
    old: str
    new: str
    message: str


class DecisionOut(BaseModel):
    pipeline_id: str
    task_id: str
    approved: bool
    by: str
    at: datetime
    comment: str


class Health(BaseModel):
    status: str
    version: str


class ProblemOut(BaseModel):
    """An error, as RFC 9457 problem details (plus the error's context as extension members)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route may answer with."""
    schema = ProblemOut.model_json_schema()
    return {
        status: {"description": "A problem (RFC 9457).", "content": {"application/problem+json": {"schema": schema}}}
        for status in statuses
    }


COMMON_PROBLEMS = problem_responses(401, 403, 404, 409, 413, 422, 503)
