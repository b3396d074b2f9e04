"""Drive cohort with the official Zulip Python client (`pip install zulip`).

Run by tests/zulip_python_client.rs against a live server:
    python zulip_client_check.py OWNER_ZULIPRC MEMBER_ZULIPRC MEMBER_ID OTHER_MEMBER_ID
Every check raises CheckFailed (checks.py) with the offending response.
"""

import sys

import zulip

from checks import expect, ok


def err(result, what, msg, code="BAD_REQUEST"):
    expect(result.get("result") == "error", f"{what}: expected an error, got {result}")
    expect(result.get("msg") == msg, f"{what}: msg {result.get('msg')!r} != {msg!r}")
    expect(result.get("code") == code, f"{what}: code {result.get('code')!r} != {code!r}")


def main():
    owner_rc, member_rc, member_id, other_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    owner = zulip.Client(config_file=owner_rc)
    member = zulip.Client(config_file=member_rc)
    # The constructor already called /server_settings; it must report a feature level.
    expect(owner.feature_level >= 458, owner.feature_level)

    groups = ok(owner.get_user_groups(), "list")["user_groups"]
    names = [g["name"] for g in groups]
    expect(names[:8] == [
        "role:nobody", "role:owners", "role:administrators", "role:moderators",
        "role:fullmembers", "role:members", "role:everyone", "role:internet",
    ], names)
    members_group = next(g for g in groups if g["name"] == "role:members")["id"]

    created = ok(owner.create_user_group({
        "name": "marketing",
        "description": "The marketing team",
        "members": [member_id],
        "can_join_group": members_group,
    }), "create")
    gid = created["group_id"]
    group = next(g for g in ok(owner.get_user_groups(), "list")["user_groups"] if g["id"] == gid)
    expect(group["members"] == [member_id], group)
    expect(group["can_join_group"] == members_group, group)
    expect(group["is_system_group"] is False and group["deactivated"] is False, group)

    # update_user_group sends group_id in the body too: Zulip ignores and reports it.
    updated = ok(owner.update_user_group({"group_id": gid, "name": "marketing-team", "description": "Marketing"}), "update")
    expect(updated.get("ignored_parameters_unsupported") == ["group_id"], updated)

    ok(owner.update_user_group_members(gid, {"add": [other_id], "delete": [member_id]}), "members")
    members = ok(owner.call_endpoint(url=f"user_groups/{gid}/members", method="GET"), "get members")["members"]
    expect(sorted(members) == [other_id], members)
    check = ok(owner.call_endpoint(url=f"user_groups/{gid}/members/{other_id}", method="GET"), "is member")
    expect(check["is_user_group_member"] is True, check)

    err(owner.update_user_group_members(gid, {"add": [other_id]}), "re-add",
        f"User {other_id} is already a member of this group")

    # Subgroups and the recursive view.
    sub = ok(owner.create_user_group({"name": "interns", "description": "", "members": [member_id]}), "create sub")["group_id"]
    ok(owner.call_endpoint(url=f"user_groups/{gid}/subgroups", method="POST", request={"add": [sub]}), "add subgroup")
    members = ok(owner.call_endpoint(url=f"user_groups/{gid}/members", method="GET"), "recursive")["members"]
    expect(sorted(members) == sorted([member_id, other_id]), members)
    err(owner.call_endpoint(url=f"user_groups/{sub}/subgroups", method="POST", request={"add": [gid]}), "cycle",
        f"User group {sub} is already a subgroup of one of the passed subgroups.")

    # The member may join (can_join_group = role:members) but not rename.
    err(member.update_user_group({"group_id": gid, "name": "mine"}), "member rename", "Insufficient permission")

    # Deactivation is refused while the group is a subgroup in use; the removed DELETE route is 405.
    deleted = owner.remove_user_group(gid)
    expect(deleted.get("result") == "error" and deleted.get("msg") == "Method Not Allowed", deleted)
    err(owner.call_endpoint(url=f"user_groups/{sub}/deactivate", method="POST"), "in use",
        "Cannot deactivate user group in use.", code="CANNOT_DEACTIVATE_GROUP_IN_USE")
    ok(owner.call_endpoint(url=f"user_groups/{gid}/deactivate", method="POST"), "deactivate")
    listed = [g["id"] for g in ok(owner.get_user_groups(), "list")["user_groups"]]
    expect(gid not in listed, listed)
    ok(owner.update_user_group({"group_id": gid, "deactivated": False}), "reactivate")
    listed = [g["id"] for g in ok(owner.get_user_groups(), "list")["user_groups"]]
    expect(gid in listed, listed)

    # Users.
    users = ok(owner.get_users(), "users")["members"]
    expect(any(u["user_id"] == member_id for u in users), users)
    me = ok(owner.get_profile(), "profile")
    expect(me["role"] == 100 and me["is_owner"] is True, me)
    new = ok(owner.create_user({"email": "newcomer@test.example", "password": "pw", "full_name": "New Comer"}), "create user")
    uid = new["user_id"]
    ok(owner.update_user_by_id(uid, full_name="New Name", role=300), "update user")
    user = ok(owner.get_user_by_id(uid), "get user")["user"]
    expect(user["full_name"] == "New Name" and user["role"] == 300, user)
    moderators = next(g for g in ok(owner.get_user_groups(), "list")["user_groups"] if g["name"] == "role:moderators")
    expect(uid in moderators["members"], moderators)
    ok(owner.deactivate_user_by_id(uid), "deactivate user")
    ok(owner.reactivate_user_by_id(uid), "reactivate user")
    err(member.create_user({"email": "x@test.example", "password": "pw", "full_name": "X Y"}), "member creates user",
        "Must be an organization administrator", code="UNAUTHORIZED_PRINCIPAL")
    print("zulip client checks passed")


if __name__ == "__main__":
    main()
