"""The AWS APIs as the driver uses them: one call at a time, off the event loop, errors as values.

boto3 is blocking, so every call runs in a worker thread (``asyncio.to_thread``); aioboto3
would save a thread per call but adds a second HTTP stack and pins aiobotocore to one
botocore release, for calls that each take tens of milliseconds. Every call goes through
``Aws.call``:

- throttling (``ThrottlingException``, ``TooManyRequestsException``, ``RequestLimitExceeded``
  ...) is retried with capped exponential backoff and full jitter, within the call's deadline
  (botocore's own retries are off, so the deadline is the only budget);
- any other error becomes ``AwsError(ErrorDetails(PLATFORM_ERROR, "<call> on <resource>:
  <AWS's message>", {"call", "resource", "aws_code"}))``, raised inside the driver and
  returned as a ``Failure`` at its edge.

Credentials come from the standard chain (the given environment's ``AWS_ACCESS_KEY_ID``
and ``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, the shared files,
the instance or task role): nothing here stores them. ``AWS_ENDPOINT_URL`` (or the
per-service ``AWS_ENDPOINT_URL_<SERVICE>``) points the clients at any AWS-compatible
endpoint.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session

from uno.core.errors import ErrorCode, ErrorDetails

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
SERVICES = {"ecs": "ECS", "elbv2": "ELASTIC_LOAD_BALANCING_V2", "cloudwatch": "CLOUDWATCH"}
SERVICES["application-autoscaling"] = "APPLICATION_AUTO_SCALING"
PREFIXES = {"ecs": "ecs", "elbv2": "elasticloadbalancing", "cloudwatch": "cloudwatch"}
PREFIXES["application-autoscaling"] = "application-autoscaling"
CALL_DEADLINE_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class AwsError(Exception):
    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error

    @property
    def aws_code(self) -> str:
        return str(self.error.context.get("aws_code", ""))


def failed(message: str, **context: Any) -> AwsError:
    return AwsError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, context))


class Aws:
    """The clients of one region, made once, each call bounded and translated."""

    def __init__(
        self,
        region: str,
        environ: Mapping[str, str],
        *,
        deadline_seconds: float = CALL_DEADLINE_SECONDS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.region = region
        self._environ = dict(environ)
        self._deadline = deadline_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self._session = _session(self._environ)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` (tests register botocore event handlers on it)."""
        if service not in self._clients:
            settings = botocore.config.Config(
                retries={"total_max_attempts": 1, "mode": "standard"},  # retries are ours: see ``call``
                connect_timeout=10,
                read_timeout=30,
                user_agent_extra="uno-deployment",
            )
            self._clients[service] = self._session.client(
                service, region_name=self.region, endpoint_url=_endpoint(self._environ, service), config=settings
            )
        return self._clients[service]

    async def call(self, api: str, operation: str, resource: str, /, **params: Any) -> dict[str, Any]:
        """``operation`` (boto3's snake_case name) of ``api``; ``resource`` names what it acts on, for errors."""
        name = f"{PREFIXES[api]}:{_camel(operation)}"
        method = getattr(self.client(api), operation)
        ends = self._monotonic() + self._deadline
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                answer: dict[str, Any] = await asyncio.to_thread(method, **params)
                return answer
            except botocore.exceptions.ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                wait = random.uniform(0, backoff)  # jitter, not secrecy
                if code in THROTTLED and self._monotonic() + wait < ends:
                    await self._sleep(wait)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                message = str(error.response.get("Error", {}).get("Message", "")) or str(error)
                if code in THROTTLED:
                    message = f"still throttled after {self._deadline:g}s of retries: {message}"
                raise failed(f"{name} on {resource}: {message}", call=name, resource=resource, aws_code=code) from None
            except botocore.exceptions.BotoCoreError as error:  # no credentials, endpoint unreachable, bad input
                code = type(error).__name__
                raise failed(f"{name} on {resource}: {error}", call=name, resource=resource, aws_code=code) from None


def _session(environ: Mapping[str, str]) -> boto3.Session:
    """A session whose credential chain starts with the given environment, then the standard chain."""
    core = botocore.session.Session()
    if environ.get("AWS_PROFILE"):
        core.set_config_variable("profile", environ["AWS_PROFILE"])
    resolver = core.get_component("credential_provider")
    resolver.insert_before("env", botocore.credentials.EnvProvider(environ=dict(environ)))
    return boto3.Session(botocore_session=core)


def _endpoint(environ: Mapping[str, str], service: str) -> str | None:
    return environ.get(f"AWS_ENDPOINT_URL_{SERVICES[service]}") or environ.get("AWS_ENDPOINT_URL") or None


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))
