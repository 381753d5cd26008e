"""The AWS client wrapper: throttling retried with capped, jittered backoff within the deadline; errors named.

No network: a botocore event handler answers each call before it is sent, and the clock
is fake (each backoff sleep moves it), so the deadline is reached without waiting.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms.aws import client

ENVIRON = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def refusing(code: str, times: int | None = None) -> Any:
    seen: list[int] = []

    def handler(**_: Any) -> dict[str, Any] | None:
        if times is not None and len(seen) >= times:
            return None
        seen.append(1)
        raise botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "ListClusters")

    return handler


def aws_with(handler: Any, deadline: float = 60.0) -> tuple[client.Aws, FakeTime]:
    time = FakeTime()
    made = client.Aws("eu-west-1", ENVIRON, deadline_seconds=deadline, sleep=time.sleep, monotonic=time.monotonic)
    ecs = made.client("ecs")
    ecs.meta.events.register("before-call.ecs.ListClusters", handler)
    answered = AWSResponse("http://127.0.0.1:9", 200, {}, None)
    ecs.meta.events.register("before-call.ecs.ListClusters", lambda **_: (answered, {"clusterArns": []}))
    return made, time


async def test_throttling_is_retried_and_the_answer_comes_back():
    aws, time = aws_with(refusing("ThrottlingException", times=3))

    answer = await aws.call("ecs", "list_clusters", "clusters")

    assert answer == {"clusterArns": []}
    assert len(time.sleeps) == 3
    assert all(
        0 <= pause <= cap for pause, cap in zip(time.sleeps, (0.1, 0.2, 0.4), strict=True)
    )  # jitter under a doubling cap


async def test_still_throttled_at_the_deadline_is_a_platform_error_saying_so():
    aws, time = aws_with(refusing("TooManyRequestsException"), deadline=30)

    with pytest.raises(client.AwsError) as raised:
        await aws.call("ecs", "list_clusters", "clusters")

    error = raised.value.error
    assert error.code is ErrorCode.PLATFORM_ERROR
    assert error.message.startswith("ecs:ListClusters on clusters: still throttled after 30s of retries")
    assert error.context == {"call": "ecs:ListClusters", "resource": "clusters", "aws_code": "TooManyRequestsException"}
    assert max(time.sleeps) <= client.MAX_BACKOFF_SECONDS
    assert time.now <= 30


async def test_any_other_error_is_not_retried_and_names_the_call_and_resource():
    aws, time = aws_with(refusing("AccessDeniedException"))

    with pytest.raises(client.AwsError) as raised:
        await aws.call("ecs", "list_clusters", "clusters")

    assert raised.value.error.message == "ecs:ListClusters on clusters: Rate exceeded"
    assert raised.value.aws_code == "AccessDeniedException"
    assert time.sleeps == []


def test_the_standard_endpoint_variables_point_the_clients_elsewhere():
    general = client.Aws("eu-west-1", ENVIRON)
    specific = client.Aws("eu-west-1", {**ENVIRON, "AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:10"})

    assert general.client("ecs").meta.endpoint_url == "http://127.0.0.1:9"
    assert specific.client("ecs").meta.endpoint_url == "http://127.0.0.1:10"
    assert specific.client("elbv2").meta.endpoint_url == "http://127.0.0.1:9"
