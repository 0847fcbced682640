"""``/api/entities/{id}/alert-rules``: create, list, delete; private entities are a 404 for
non-members; bad rules are a 422 naming the field and the fix, and nothing is stored (issue 15,
parts 4 and 8)."""

from __future__ import annotations

from service.conftest import client, lake_root, world, world_template  # noqa: F401


def rules_url(entity_id: int) -> str:
    return f"/api/entities/{entity_id}/alert-rules"


def test_members_create_list_and_delete_rules(client, world):  # noqa: F811 - fixtures imported above
    url = rules_url(world.public_entity)
    body = {"name": "loud", "min_score": 80, "min_duration_minutes": 10, "groups": {"host": ["monit-*"]},
            "labels": {"team": "storage"}, "annotations": {"summary": "{{ entity }} on {{ group.host }}"}}
    created = client.post(url, json=body, headers=world.auth("alice"))
    assert created.status_code == 201, created.text
    rule = created.json()
    assert {k: rule[k] for k in body} == body and rule["entity_id"] == world.public_entity
    assert client.get(url).json() == [rule]  # a public entity's rules are visible to everyone
    assert client.post(url, json=body, headers=world.auth("alice")).status_code == 409  # same name
    assert client.delete(f"{url}/{rule['id']}", headers=world.auth("alice")).status_code == 204
    assert client.get(url).json() == []
    assert client.delete(f"{url}/{rule['id']}", headers=world.auth("alice")).status_code == 404


def test_private_entities_rules_are_not_found_for_non_members(client, world):  # noqa: F811
    private = rules_url(world.private_entity)
    assert client.post(private, json={"name": "x"}, headers=world.auth("alice")).status_code == 201
    for user in (None, "bob"):
        assert client.get(private, headers=world.auth(user)).status_code == 404
        assert client.post(private, json={"name": "y"}, headers=world.auth(user)).status_code == 404
        assert client.delete(f"{private}/1", headers=world.auth(user)).status_code == 404
    # a visible entity that is not theirs: not allowed
    assert client.post(rules_url(world.public_entity), json={"name": "y"},
                       headers=world.auth("bob")).status_code == 403
    assert client.get(private, headers=world.auth("alice")).json()[0]["name"] == "x"


def test_bad_rules_are_4xx_naming_the_field_and_nothing_is_stored(client, world):  # noqa: F811
    url = rules_url(world.public_entity)
    alice = world.auth("alice")
    cases = [
        ({"name": "x", "min_duration_minutes": -5}, 422, "min_duration_minutes: -5.0 is negative; give 0"),
        ({"name": "x", "groups": {"site": ["cern"]}}, 422,
         "groups.site: the entity does not group by 'site'; use one of its group keys (host)"),
        ({"name": "x", "annotations": {"summary": "{{ group.host "}}, 422, "annotations.summary: template"),
        ({"name": "x", "labels": {"team": "{{ owner }}"}}, 422, "labels.team: template '{{ owner }}' cannot be "
                                                                "rendered: 'owner' is undefined"),
        ({"name": "x", "labels": {"entity": "a"}}, 422, "labels.entity: admon sets the label 'entity' itself"),
        ({"name": "x", "severity": "high"}, 422, "unknown field 'severity'"),
    ]
    for body, status, message in cases:
        reply = client.post(url, json=body, headers=alice)
        assert reply.status_code == status, (body, reply.text)
        assert message in reply.json()["detail"], reply.json()["detail"]
    assert client.post(rules_url(99_999), json={"name": "x"}, headers=alice).status_code == 404
    assert client.get(url).json() == []
