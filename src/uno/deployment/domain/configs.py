"""Deployment configurations: what to deploy, where, how, and what to check.

A ``DeploymentConfig`` is immutable and always valid: it is built through
``pydantic`` validation (field by field, then the cross-field rules), and a change makes
a new one. Secrets never appear in it: the database password and every secret are
*names* of environment variables, read when a step runs, never stored.

Invariants:
- min <= max for CPU, memory, replicas and connection pools;
- ``app_name`` is a DNS label, ``app_version`` a semantic version or an image tag;
- ``environment_variables`` carry no value whose name looks like a secret, and no URL
  with a password (``domain.secret_names``);
- every text is storable and names are single lines; ``custom_settings`` is JSON within
  the depth and size limits of ``domain.texts``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from uno.deployment.domain import quantities, secret_names, texts
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentPlatform, DeploymentStrategy
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.domain.validation import FieldValueError

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _version(value: str) -> str:
    if not (_SEMVER.match(value) or _IMAGE_TAG.match(value)) or value in {".", ".."}:
        raise ValueError(f"{value!r} is neither a semantic version (1.2.3) nor an image tag")
    return value


def _hostname(value: str) -> str:
    host = value.lower().rstrip(".")
    labels = host.split(".")
    wildcard_ok = labels[0] == "*" and len(labels) > 2
    checked = labels[1:] if wildcard_ok else labels
    if len(host) > 253 or len(labels) < 2 or not all(_HOSTNAME_LABEL.match(label) for label in checked):
        raise ValueError(f"{value!r} is not a hostname (example: myapp.example.com)")
    if labels[-1].isdigit():
        raise ValueError(f"{value!r} is an address, not a hostname")
    return host


def _env_var_name(value: str) -> str:
    if not _ENV_VAR_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits and '_')")
    return value


def _cpu(value: str) -> str:
    quantities.parse_cpu(value)
    return value


def _memory(value: str) -> str:
    quantities.parse_memory(value)
    return value


def _argv(value: list[str]) -> list[str]:
    if not value or not value[0]:
        raise ValueError("a command is a non-empty list of arguments, program first")
    return value


AppName = Annotated[str, AfterValidator(_dns_label)]
AppVersion = Annotated[str, AfterValidator(_version)]
Hostname = Annotated[str, AfterValidator(_hostname)]
EnvVarName = Annotated[str, AfterValidator(_env_var_name)]
Cpu = Annotated[str, AfterValidator(_cpu)]
Memory = Annotated[str, AfterValidator(_memory)]
Line = Annotated[str, AfterValidator(texts.line)]
Prose = Annotated[str, AfterValidator(texts.prose)]
Argv = Annotated[list[Prose], AfterValidator(_argv)]
Port = Annotated[int, Field(ge=1, le=65535)]
ConfigId = Annotated[
    DeploymentId,
    BeforeValidator(lambda value: DeploymentId(value) if isinstance(value, str) else value),
    PlainSerializer(lambda value: value.value, return_type=str),
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, strict=False)


class DatabaseConfig(_Section):
    """The application's database: where it is, and what to do with it during a deploy."""

    engine: Literal["postgresql", "sqlite"] = "postgresql"
    host: Line | None = None
    port: Port = 5432
    name: Line | None = None
    user: Line | None = None
    password_env_var: EnvVarName | None = None
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    connection_pool_min: int = Field(default=1, ge=0)
    connection_pool_max: int = Field(default=10, ge=1)
    apply_migrations: bool = False
    migration_command: Argv | None = None
    backup_before_deploy: bool = False
    backup_retention: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> DatabaseConfig:
        if self.connection_pool_min > self.connection_pool_max:
            raise FieldValueError(
                "connection_pool_min",
                f"connection_pool_min ({self.connection_pool_min}) is greater than "
                f"connection_pool_max ({self.connection_pool_max})",
            )
        return self


class ResourceRequirements(_Section):
    """CPU and memory per replica (Kubernetes quantities) and the replica range."""

    cpu_min: Cpu = "100m"
    cpu_max: Cpu = "500m"
    memory_min: Memory = "128Mi"
    memory_max: Memory = "256Mi"
    replicas_min: int = Field(default=1, ge=1, le=1000)
    replicas_max: int = Field(default=1, ge=1, le=1000)
    auto_scaling: bool = False
    auto_scaling_cpu_threshold: int = Field(default=80, ge=1, le=100)

    @model_validator(mode="after")
    def _ranges(self) -> ResourceRequirements:
        pairs = (
            ("cpu", quantities.parse_cpu(self.cpu_min), quantities.parse_cpu(self.cpu_max)),
            ("memory", quantities.parse_memory(self.memory_min), quantities.parse_memory(self.memory_max)),
            ("replicas", self.replicas_min, self.replicas_max),
        )
        for name, low, high in pairs:
            if low > high:
                given_low, given_high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
                raise FieldValueError(
                    f"{name}_min", f"{name}_min ({given_low}) is greater than {name}_max ({given_high})"
                )
        return self


class NetworkConfig(_Section):
    """How the application is reached: its port, health path and public domain."""

    domain: Hostname | None = None
    use_https: bool = False
    port: Port = 8080
    health_check_path: Line = Field(default="/health", pattern=r"^/[^\s]*$")

    @model_validator(mode="after")
    def _https_needs_domain(self) -> NetworkConfig:
        if self.use_https and self.domain is None:
            raise FieldValueError("use_https", "use_https needs a domain for the certificate")
        return self


class SecurityConfig(_Section):
    enable_network_policy: bool = False
    scan_images: bool = False
    scan_command: Argv | None = None
    """The scanner ``scan_images`` runs (default: the platform's, see ``engine.scanning``)."""
    run_as_non_root: bool = False
    read_only_root_filesystem: bool = False


class MonitoringConfig(_Section):
    enable_logging: bool = True
    enable_metrics: bool = False
    enable_tracing: bool = False
    enable_alerts: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class TestingConfig(_Section):
    """Which test suites gate a deploy, and the command that runs each."""

    __test__ = False  # not a pytest test class

    run_unit_tests: bool = True
    run_integration_tests: bool = False
    run_performance_tests: bool = False
    run_security_tests: bool = False
    unit_test_command: Argv | None = None
    integration_test_command: Argv | None = None
    performance_test_command: Argv | None = None
    security_test_command: Argv | None = None
    fail_on_test_failure: bool = True
    test_timeout: float = Field(default=600, gt=0, le=86_400)

    def enabled_suites(self) -> list[str]:
        return [suite for suite in TEST_SUITES if getattr(self, f"run_{suite}_tests")]

    def command_for(self, suite: str) -> list[str] | None:
        command: list[str] | None = getattr(self, f"{suite}_test_command")
        return command


TEST_SUITES = ("unit", "integration", "performance", "security")

SECTIONS: dict[str, type[_Section]] = {
    "database": DatabaseConfig,
    "resources": ResourceRequirements,
    "network": NetworkConfig,
    "security": SecurityConfig,
    "monitoring": MonitoringConfig,
    "testing": TestingConfig,
}


class DeploymentConfig(BaseModel):
    """One application's deployment settings for one environment."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: ConfigId
    app_name: AppName
    app_version: AppVersion
    environment: DeploymentEnvironment
    platform: DeploymentPlatform = DeploymentPlatform.LOCAL
    strategy: DeploymentStrategy
    description: Prose = Field(default="", max_length=2000)
    database: DatabaseConfig | None = None
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    testing: TestingConfig = Field(default_factory=TestingConfig)
    build_command: Argv | None = None
    auto_rollback: bool = True
    custom_settings: dict[str, Any] = Field(default_factory=dict)
    environment_variables: dict[EnvVarName, Prose] = Field(default_factory=dict)
    secrets: list[EnvVarName] = Field(default_factory=list)
    given_fields: frozenset[str] = frozenset()
    derived_from: ConfigId | None = None
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1, ge=1)

    @field_validator("custom_settings")
    @classmethod
    def _json_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        return texts.json_object(value)

    @field_validator("environment_variables")
    @classmethod
    def _no_secret_values(cls, value: dict[str, str]) -> dict[str, str]:
        for name, given in value.items():
            if refused := secret_names.refusal(name, given):
                raise FieldValueError(name, refused)
        return value

    @field_validator("secrets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names a secret twice")
        return value

    @property
    def key(self) -> tuple[str, DeploymentEnvironment]:
        """What one deployment at a time is counted per: the application in an environment."""
        return (self.app_name, self.environment)

    def sections(self) -> dict[str, _Section | None]:
        return {name: getattr(self, name) for name in SECTIONS}

    def to_document(self) -> dict[str, Any]:
        """The JSON document stored for this configuration."""
        document = self.model_dump(mode="json")
        document["given_fields"] = sorted(self.given_fields)
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DeploymentConfig:
        return cls.model_validate(document)
