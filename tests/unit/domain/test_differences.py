"""Comparing one platform object's two sides: field paths, lists matched by name, secrets never shown."""

from __future__ import annotations

from uno.deployment.domain import differences

LIVE = {
    "spec": {
        "replicas": 2,
        "containers": [
            {
                "name": "shop",
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "API_TOKEN", "value": "old-token"}],
            }
        ],
    }
}


def wanted(**changes):
    env = [{"name": "API_TOKEN", "value": changes.get("token", "old-token")}, {"name": "LOG_LEVEL", "value": "info"}]
    return {"spec": {"replicas": changes.get("replicas", 2), "containers": [{"name": "shop", "env": env}]}}


def test_the_same_object_reordered_by_name_is_unchanged():
    found = differences.compare("Deployment", "shop", wanted(), LIVE, secret_names=["API_TOKEN"])

    assert (found.change, found.fields, found.unified()) == ("unchanged", (), [])


def test_a_changed_field_is_named_by_its_path_and_shown_in_a_unified_diff():
    found = differences.compare("Deployment", "shop", wanted(replicas=3), LIVE)

    assert found.change == "changed"
    assert [item.to_document() for item in found.fields] == [
        {"path": "spec.replicas", "change": "changed", "before": 2, "after": 3}
    ]
    assert found.unified()[:2] == ["--- live/Deployment/shop", "+++ wanted/Deployment/shop"]
    assert "-spec.replicas: 2" in found.unified()
    assert "+spec.replicas: 3" in found.unified()


def test_a_secret_is_compared_but_its_values_never_appear():
    found = differences.compare("Deployment", "shop", wanted(token="new-token"), LIVE, secret_names=["API_TOKEN"])

    path = "spec.containers[name=shop].env[name=API_TOKEN].value"
    assert [item.to_document() for item in found.fields] == [
        {"path": path, "change": "changed", "before": "(secret)", "after": "(secret, changed)"}
    ]
    shown = repr(found.to_document()) + "\n".join(found.unified())
    assert "old-token" not in shown
    assert "new-token" not in shown
    assert f"+{path}: (secret, changed)" in found.unified()


def test_a_secret_objects_data_is_masked_and_objects_are_added_or_removed():
    added = differences.compare("Secret", "shop", {"data": {"password": "c2VjcmV0"}}, None)
    removed = differences.compare("Deployment", "shop", None, LIVE)

    assert added.change == "added"
    assert [item.to_document() for item in added.fields] == [
        {"path": "data.password", "change": "added", "before": None, "after": "(secret)"}
    ]
    assert "c2VjcmV0" not in "\n".join(added.unified())
    assert removed.change == "removed"
    assert removed.unified()[1] == "+++ /dev/null"


def test_a_diff_is_changed_when_any_object_is_and_round_trips_as_a_document():
    same = differences.compare("Deployment", "shop", wanted(), LIVE)
    other = differences.compare("Service", "shop", {"spec": {"port": 81}}, {"spec": {"port": 80}})
    whole = differences.Diff("shop", "dev", "kubernetes", (same, other))

    assert whole.changed
    assert not differences.Diff("shop", "dev", "kubernetes", (same,)).changed
    assert differences.Diff.from_document(whole.to_document()) == whole
