"""What confines a local replica: the hierarchy chosen per machine, the files written, what is declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.test_repositories import T0
from uno.deployment.adapters.platforms.local import cgroups, confinement, honoured, options
from uno.deployment.adapters.platforms.local.cgroups import Hierarchy, Limits, ReplicaCgroups
from uno.deployment.adapters.platforms.local.confinement import Confinement, Offer
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id

HYBRID_MOUNTS = """\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu
32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw
"""
HYBRID_MEMBERSHIP = "4:memory:/jobs/42\n1:cpu:/\n0::/\n"


def unified_tree(tmp_path: Path, delegated: str) -> tuple[str, str]:
    """A cgroup2 mount at ``tmp_path`` where we run in /user.slice/app.scope; the slice delegates ``delegated``."""
    scope = tmp_path / "user.slice" / "app.scope"
    scope.mkdir(parents=True)
    (tmp_path / "user.slice" / "cgroup.subtree_control").write_text(delegated)
    mounts = f"32 25 0:28 / {tmp_path} rw,relatime shared:11 - cgroup2 cgroup2 rw\n"
    return mounts, "0::/user.slice/app.scope\n"


def test_cgroup_v2_is_used_where_our_parent_delegates_the_controller(tmp_path: Path):
    mounts, membership = unified_tree(tmp_path, "cpu memory pids")

    found = cgroups.find("memory", mounts, membership)

    assert found == Hierarchy("memory", 2, tmp_path / "user.slice", tmp_path)


def test_cgroup_v2_without_the_controller_delegated_is_not_used(tmp_path: Path):
    mounts, membership = unified_tree(tmp_path, "pids")

    assert cgroups.find("memory", mounts, membership) is None


def test_cgroup_v1_is_found_from_the_mounts_and_our_membership(tmp_path: Path):
    found = cgroups.find("memory", HYBRID_MOUNTS, HYBRID_MEMBERSHIP)

    # writable only as root: as anyone else the hierarchy is refused, and memory falls back to RLIMIT_AS
    base = Path("/sys/fs/cgroup/memory/jobs/42")
    assert found is None or found == Hierarchy("memory", 1, base, Path("/sys/fs/cgroup/memory"))


def test_nothing_mounted_means_no_cgroup():
    assert cgroups.find("cpu", "", "0::/\n") is None


def hierarchy_dirs(tmp_path: Path, version: int) -> ReplicaCgroups:
    made = ReplicaCgroups(
        [Hierarchy("memory", version, tmp_path / "m", tmp_path), Hierarchy("cpu", version, tmp_path / "c", tmp_path)],
        "k",
        "shop-dev-1.0.0-abc.0",
    )
    for _, directory in made.directories.values():
        directory.parent.mkdir(parents=True)
        (directory.parent / "cgroup.subtree_control").write_text("")
    return made


def fake_kernel_files(made: ReplicaCgroups, names: list[str]) -> None:
    """The files the kernel would show in a new cgroup (a plain directory has none)."""
    for _, directory in made.directories.values():
        directory.mkdir()
        for name in names:
            (directory / name).write_text("")


def test_cgroup_v1_files_hold_the_limits(tmp_path: Path):
    made = hierarchy_dirs(tmp_path, 1)
    v1 = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes"]
    fake_kernel_files(made, [*v1, "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"])

    procs = made.create(Limits(memory_max=64 * 2**20, memory_min=32 * 2**20, cpu_max=250, cpu_min=500))

    memory, cpu = (directory for _, directory in made.directories.values())
    assert procs == [str(memory / "cgroup.procs"), str(cpu / "cgroup.procs")]
    assert (memory / "memory.limit_in_bytes").read_text() == str(64 * 2**20)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(64 * 2**20)  # no swapping past it
    assert (memory / "memory.soft_limit_in_bytes").read_text() == str(32 * 2**20)
    assert (cpu / "cpu.cfs_quota_us").read_text() == "25000"
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "cpu.shares").read_text() == "512"


def test_cgroup_v2_files_hold_the_limits_and_the_parent_delegates(tmp_path: Path):
    made = hierarchy_dirs(tmp_path, 2)
    fake_kernel_files(made, ["memory.max", "memory.swap.max", "memory.min", "cpu.max", "cpu.weight"])

    made.create(Limits(memory_max=64 * 2**20, memory_min=None, cpu_max=1500, cpu_min=1000))

    memory, cpu = (directory for _, directory in made.directories.values())
    assert (memory / "memory.max").read_text() == str(64 * 2**20)
    assert (memory / "memory.swap.max").read_text() == "0"
    assert (memory / "memory.min").read_text() == ""  # not asked for: not written
    assert (cpu / "cpu.max").read_text() == "150000 100000"
    assert (cpu / "cpu.weight").read_text() == "39"  # 1024 shares, as Kubernetes converts them
    assert (memory.parent / "cgroup.subtree_control").read_text() == "+memory"


def test_the_oom_kill_count_is_read_from_the_memory_cgroup(tmp_path: Path):
    made = hierarchy_dirs(tmp_path, 1)
    fake_kernel_files(made, ["memory.oom_control"])
    memory = made.directories["memory"][1]
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")

    assert made.oom_kills() == 3


def config(**given: object):
    values = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", **given}
    return configuring.build(new_config_id(), values, T0).value


def test_only_what_the_configuration_names_confines_a_replica():
    assert confinement.from_config(config(), "nobody").empty  # the profile's CPU and memory are no promise

    asked = config(resources={"memory_max": "64Mi", "cpu_max": "250m"}, security={"run_as_non_root": True})
    wanted = confinement.from_config(asked, "app")

    assert wanted == Confinement(memory_max=64 * 2**20, cpu_max=250, user="app")
    assert Confinement.from_json(wanted.to_json()) == wanted


@pytest.mark.parametrize(
    ("offer", "honoured_here"),
    [
        (Offer(None, None, root=False, private_mounts=False), {"resources.memory_max"}),
        (
            Offer(
                Hierarchy("memory", 1, Path("/m"), Path("/")), Hierarchy("cpu", 1, Path("/c"), Path("/")), True, True
            ),
            set(honoured.MACHINE_DEPENDENT),
        ),
    ],
)
def test_what_the_machine_cannot_do_is_declared_not_honoured(offer: Offer, honoured_here: set[str]):
    declared = honoured.declaration_for(offer).settings

    assert {path for path in honoured.MACHINE_DEPENDENT if declared[path].honoured} == honoured_here
    assert declared["security.run_as_non_root"].honoured  # root: setuid; anyone else already is not root
    if offer.memory is None:
        assert "RLIMIT_AS" in declared["resources.memory_max"].note
        assert "nothing caps a replica's CPU" in declared["resources.cpu_max"].note


def test_run_as_user_must_be_a_user_of_this_machine():
    settings = {"command": ["app"], "port": 8000}
    given = config(custom_settings={**settings, "run_as_user": "no-such-user-here"})

    refused = options.options_for(given)

    assert refused.is_failure()
    assert refused.error.context["field"] == "custom_settings.run_as_user"
    assert "'no-such-user-here' is not a user of this machine" in refused.error.message
    assert options.options_for(config(custom_settings={**settings, "run_as_user": "root"})).value.run_as_user == "root"
