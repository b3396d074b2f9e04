"""Zulip's real-time events API driven by the official Python client.

Run by tests/zulip_python_client.rs against a live server:
    python zulip_events_check.py OWNER_ZULIPRC MEMBER_ZULIPRC SITE PLATFORM_KEY
(the realm's `group_upsert` is `update`, so IMKIT's POST /admin/groups edits
an existing group). Every check raises CheckFailed (checks.py) with what
it saw.
"""

import json
import sys
import threading
import urllib.request

import zulip

from checks import CheckFailed, expect, ok


def imkit(site, key, path, body):
    request = urllib.request.Request(
        site + path,
        data=json.dumps(body).encode(),
        headers={"IM-API-KEY": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def imkit_get(site, key, path):
    request = urllib.request.Request(site + path, headers={"IM-API-KEY": key})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def drain(client, queue_id, last, count, what):
    """Events until `count` non-heartbeat ones arrived (each poll acknowledges
    the previous one's)."""
    events = []
    for _ in range(50):
        result = ok(client.get_events(queue_id=queue_id, last_event_id=last, dont_block=True), what)
        for event in result["events"]:
            last = max(last, event["id"])
            if event["type"] != "heartbeat":
                events.append(event)
        if len(events) >= count:
            return events, last
    raise CheckFailed(f"{what}: only {events}")


def strip_ids(events):
    return [{k: v for k, v in e.items() if k != "id"} for e in events]


def main():
    owner_rc, member_rc, site, platform_key = sys.argv[1:5]
    owner = zulip.Client(config_file=owner_rc)
    member = zulip.Client(config_file=member_rc)
    me = ok(owner.get_profile(), "profile")
    mia = ok(member.get_profile(), "member profile")["user_id"]

    # register: a queue, its first id, the claimed level, the initial state asked for.
    reg = ok(
        owner.register(
            event_types=["user_group", "realm_user"],
            fetch_event_types=["realm_user_groups", "realm_user", "realm"],
            client_capabilities={"include_deactivated_groups": True},
        ),
        "register",
    )
    expect(isinstance(reg["queue_id"], str) and reg["queue_id"], reg)
    expect(reg["last_event_id"] == -1, reg["last_event_id"])
    expect(reg["zulip_feature_level"] == owner.feature_level, reg["zulip_feature_level"])
    expect(reg["event_queue_longpoll_timeout_seconds"] == 90, reg)
    names = {g["name"] for g in reg["realm_user_groups"]}
    expect("role:administrators" in names, names)
    expect(any(u["user_id"] == mia for u in reg["realm_users"]), "Mia in realm_users")
    expect("realm_can_create_groups" in reg and "realm_can_manage_all_groups" in reg, reg.keys())
    queue, last = reg["queue_id"], reg["last_event_id"]

    # A queue without include_deactivated_groups, and one that asked for nothing of groups.
    plain = ok(owner.register(event_types=["user_group"]), "register plain")
    # fetch_event_types defaults to event_types, and the groups' initial
    # state is fetched as "realm_user_groups", not "user_group" (as Zulip).
    expect("realm_user_groups" not in plain and "realm_users" not in plain, plain.keys())

    # Changes through the Zulip API, each with Zulip's event.
    made = ok(owner.create_user_group({"name": "events", "description": "d0", "members": [mia]}), "create")
    group = made["group_id"]
    ok(owner.update_user_group({"group_id": group, "name": "events2", "description": "d1"}), "rename")
    ok(owner.update_user_group_members(group, {"delete": [mia]}), "remove member")
    ok(owner.update_user_group_members(group, {"add": [mia]}), "add member")
    sub = ok(owner.create_user_group({"name": "events-sub", "description": "", "members": []}), "sub")["group_id"]
    ok(owner.call_endpoint(url=f"user_groups/{group}/subgroups", method="POST", request={"add": [sub]}), "add subgroup")
    ok(owner.call_endpoint(url=f"user_groups/{group}/deactivate", method="POST"), "deactivate")

    events, last = drain(owner, queue, last, 7, "events")
    added = events[0]
    expect(added["type"] == "user_group" and added["op"] == "add", added)
    expect(added["group"]["id"] == group and added["group"]["members"] == [mia], added)
    expect(added["group"]["name"] == "events" and added["group"]["creator_id"] == me["user_id"], added)
    expect(
        strip_ids(events[1:5]) == [
            {"type": "user_group", "op": "update", "group_id": group, "data": {"name": "events2", "description": "d1"}},
            {"type": "user_group", "op": "remove_members", "group_id": group, "user_ids": [mia]},
            {"type": "user_group", "op": "add_members", "group_id": group, "user_ids": [mia]},
            strip_ids([events[4]])[0] | {"type": "user_group", "op": "add"},
        ],
        events[1:5],
    )
    expect(events[4]["group"]["id"] == sub, events[4])
    expect(
        strip_ids(events[5:7]) == [
            {"type": "user_group", "op": "add_subgroups", "group_id": group, "direct_subgroup_ids": [sub]},
            {"type": "user_group", "op": "update", "group_id": group, "data": {"deactivated": True}},
        ],
        events[5:7],
    )
    ids = [e["id"] for e in events]
    expect(ids == sorted(ids) and len(set(ids)) == len(ids), ids)

    # Without the capability: deactivation is `remove`.
    plain_events, _ = drain(owner, plain["queue_id"], -1, 7, "plain events")
    expect(
        strip_ids([plain_events[-1]]) == [{"type": "user_group", "op": "remove", "group_id": group}],
        plain_events[-1],
    )

    # A role change: realm_user update, and the system groups' member events.
    ok(owner.update_user_by_id(mia, role=300), "make moderator")
    role_events, last = drain(owner, queue, last, 2, "role events")
    expect({"type": "realm_user", "op": "update", "person": {"user_id": mia, "role": 300}} in strip_ids(role_events), role_events)
    expect(any(e["op"] == "add_members" and e["user_ids"] == [mia] for e in role_events if e["type"] == "user_group"), role_events)

    # Bad queue ids, another user's queue, and bad last_event_id.
    bad = owner.get_events(queue_id="not-a-queue", last_event_id=-1)
    expect(bad.get("code") == "BAD_EVENT_QUEUE_ID" and bad.get("queue_id") == "not-a-queue", bad)
    theirs = member.get_events(queue_id=queue, last_event_id=-1, dont_block=True)
    expect(theirs.get("code") == "BAD_EVENT_QUEUE_ID", theirs)
    for wrong in (-2, last + 1000):
        result = owner.get_events(queue_id=queue, last_event_id=wrong, dont_block=True)
        expect(result.get("code") == "BAD_REQUEST", (wrong, result))
    for params in ({"event_types": "user_group"}, {"client_capabilities": "[1]"}, {"event_types": "[1]"}):
        result = owner.call_endpoint(url="register", method="POST", request=params)
        expect(result.get("result") == "error" and result.get("code") == "BAD_REQUEST", (params, result))

    # call_on_each_event, in a thread, catches an add_members made through IMKIT.
    caught = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event)
        if event.get("op") == "add_members" and event.get("type") == "user_group":
            caught.set()

    imkit(site, platform_key, "/admin/groups", {"_id": "imkit-team", "nickname": "IMKIT team", "members": []})
    clients = imkit_get(site, platform_key, "/admin/clients")
    mia_key = next(c["_id"] for c in clients["result"]["data"] if c.get("nickname") == "Mia Member")
    listener = zulip.Client(config_file=owner_rc)
    threading.Thread(
        target=listener.call_on_each_event, args=(on_event,), kwargs={"event_types": ["user_group"]}, daemon=True
    ).start()
    # Until the listener's queue exists, an IMKIT write could land before it.
    for _ in range(100):
        if caught.wait(0.05):
            break
        imkit(site, platform_key, "/admin/groups", {"_id": "imkit-team", "nickname": "IMKIT team", "members": [mia_key]})
        if caught.wait(0.5):
            break
        imkit(site, platform_key, "/admin/groups", {"_id": "imkit-team", "nickname": "IMKIT team", "members": []})
    expect(caught.is_set(), f"call_on_each_event saw {seen}")

    # delete-queue: the queue is gone.
    ok(owner.deregister(queue), "deregister")
    gone = owner.get_events(queue_id=queue, last_event_id=-1)
    expect(gone.get("code") == "BAD_EVENT_QUEUE_ID", gone)
    print("zulip events checks passed")


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as failure:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
