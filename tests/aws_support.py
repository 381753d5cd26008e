"""A moto server for the aws driver's tests, and an ECS stand-in that plays what moto cannot.

moto's HTTP server runs in this process (``ThreadedMotoServer`` on a free port of
127.0.0.1); the driver reaches it through its ordinary boto3 clients, pointed there by the
standard ``AWS_ENDPOINT_URL`` in the environment it is given, so the tests also prove that
variable works. moto models the ECS, ELBv2, CloudWatch and Application Auto Scaling APIs
(services, task definitions, target groups, the listener's weighted forward action and
tags are really created, read back and deleted) but runs no task: a service it creates
stays at 0 running, its target group stays empty. ``EcsStandIn`` does from OUTSIDE the
driver what ECS and the load balancer would: it brings each service's running count to
its desired count (moto's own backend, the one field no API writes), registers that many
IP targets in the service's target group (``RegisterTargets``, which moto reports
healthy), and sends "traffic": CloudWatch datapoints for every target group the listener
weighs above 0, with 5xx for the versions told to fail.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's
_names = itertools.count(1)


@dataclass
class World:
    """One test's AWS: a VPC with subnets and a security group, an ALB with a fresh listener, a cluster."""

    url: str
    cluster: str
    vpc: str
    subnets: list[str]
    security_group: str
    load_balancer: str
    listener: str

    @property
    def environ(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The driver's custom_settings for this world; an ``extra`` of None removes that key."""
        found = {
            "region": REGION,
            "cluster": self.cluster,
            "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/shop:1",
            "subnets": self.subnets,
            "security_groups": [self.security_group],
            "vpc_id": self.vpc,
            "listener_arn": self.listener,
            "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
            "latency_statistic": "Average",  # moto computes no percentiles (p99 is AWS's default here)
            **extra,
        }
        return {key: value for key, value in found.items() if value is not None}

    def weights(self) -> dict[str, int]:
        """Target group name -> weight, as the listener's default action has them."""
        elb = self.client("elbv2")
        actions = elb.describe_listeners(ListenerArns=[self.listener])["Listeners"][0]["DefaultActions"]
        found: dict[str, int] = {}
        for action in actions:
            for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
                found[group["TargetGroupArn"].split("/")[1]] = group["Weight"]
        return found

    def services(self) -> dict[str, dict[str, Any]]:
        """The cluster's live services by name, with their tags."""
        ecs = self.client("ecs")
        arns = ecs.list_services(cluster=self.cluster)["serviceArns"]
        if not arns:
            return {}
        described = ecs.describe_services(cluster=self.cluster, services=arns, include=["TAGS"])["services"]
        return {item["serviceName"]: item for item in described if item["status"] == "ACTIVE"}


def start_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_world(url: str) -> World:
    number = next(_names)
    probe = World(url, "", "", [], "", "", "")
    ec2, elb = probe.client("ec2"), probe.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{number}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{number}.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for index, zone in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName=f"apps-{number}", Description="apps", VpcId=vpc)["GroupId"]
    balancer = elb.create_load_balancer(Name=f"lb-{number}", Subnets=subnets, SecurityGroups=[group])
    balancer_arn = balancer["LoadBalancers"][0]["LoadBalancerArn"]
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}
    listener = elb.create_listener(LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=80, DefaultActions=[fixed])
    cluster = f"apps-{number}"
    probe.client("ecs").create_cluster(clusterName=cluster)
    return World(url, cluster, vpc, subnets, group, balancer_arn, listener["Listeners"][0]["ListenerArn"])


@dataclass
class EcsStandIn:
    """ECS and the load balancer as seen from outside: tasks start, targets register, traffic flows."""

    world: World
    failing_versions: set[str] = field(default_factory=set)
    starting: bool = True  # False: tasks never start (a release that does not come up)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def settle(self) -> None:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[ACCOUNT][REGION]
        elb = self.world.client("elbv2")
        for name, found in self.world.services().items():
            wanted = found["desiredCount"] if self.starting else 0
            backend.services[f"{self.world.cluster}:{name}"].running_count = wanted
            group = found["loadBalancers"][0]["targetGroupArn"]
            targets = [
                item["Target"] for item in elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            ]
            if len(targets) < wanted:
                fresh = [
                    {"Id": f"10.200.{len(targets) + index}.{abs(hash(name)) % 250 + 1}", "Port": 8080}
                    for index in range(wanted - len(targets))
                ]
                elb.register_targets(TargetGroupArn=group, Targets=fresh)
            elif len(targets) > wanted:
                elb.deregister_targets(TargetGroupArn=group, Targets=targets[wanted:])

    def send_traffic(self, requests: int = 50, *, at: datetime | None = None) -> None:
        """Datapoints for every target group the listener weighs above 0, stamped ``at`` (default: now)."""
        versions = {
            found["loadBalancers"][0]["targetGroupArn"]: {tag["key"]: tag["value"] for tag in found.get("tags", [])}
            for found in self.world.services().values()
        }
        elb = self.world.client("elbv2")
        actions = elb.describe_listeners(ListenerArns=[self.world.listener])["Listeners"][0]["DefaultActions"]
        weighted = [
            group
            for action in actions
            for group in action.get("ForwardConfig", {}).get("TargetGroups", [])
            if group["Weight"] > 0
        ]
        balancer = self.world.load_balancer.split(":loadbalancer/")[1]
        data = []
        now = at or datetime.now(UTC)
        for group in weighted:
            arn = group["TargetGroupArn"]
            failing = versions.get(arn, {}).get("uno.version") in self.failing_versions
            dimensions = [
                {"Name": "LoadBalancer", "Value": balancer},
                {"Name": "TargetGroup", "Value": arn.rsplit(":", 1)[1]},
            ]
            data += [
                {"MetricName": "RequestCount", "Dimensions": dimensions, "Value": requests, "Timestamp": now},
                {"MetricName": "TargetResponseTime", "Dimensions": dimensions, "Value": 0.02, "Timestamp": now},
            ]
            if failing:
                data.append(
                    {
                        "MetricName": "HTTPCode_Target_5XX_Count",
                        "Dimensions": dimensions,
                        "Value": requests // 2,
                        "Timestamp": now,
                    }
                )
        if data:
            self.world.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)

    def __enter__(self) -> EcsStandIn:
        def run() -> None:
            while not self._stop.is_set():
                self.settle()
                self.send_traffic()
                self._stop.wait(0.05)

        self._thread = threading.Thread(target=run, name="ecs-stand-in", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    yield from start_server()


@pytest.fixture
def world(moto_url: str) -> World:
    return make_world(moto_url)
