"""The official Zulip client under a rate limit: past the limit it hands
back Zulip's RATE_LIMIT_HIT with `retry-after`; a script that waits that
long and tries again gets every write through, each exactly once.

Usage: rate_limit_check.py ZULIPRC COUNT MEMBER_ID
"""

import json
import sys
import time

import zulip

client = zulip.Client(config_file=sys.argv[1])
count = int(sys.argv[2])
member = int(sys.argv[3])

limited = 0
waited = 0.0


def patiently(call, *args):
    """Call the client; on RATE_LIMIT_HIT wait `retry-after` and call again."""
    global limited, waited
    while True:
        result = call(*args)
        if result.get("result") == "success":
            return result
        assert result.get("code") == "RATE_LIMIT_HIT", result
        retry = float(result["retry-after"])
        assert 0 < retry <= 1.0, result
        limited += 1
        time.sleep(retry)
        waited += retry


for i in range(count):
    patiently(
        client.create_user_group,
        {"name": f"py-{i}", "description": "", "members": json.dumps([member])},
    )

groups = [g["name"] for g in patiently(client.get_user_groups)["user_groups"]]
made = sorted(n for n in groups if n.startswith("py-"))
assert made == sorted(f"py-{i}" for i in range(count)), made
print(json.dumps({"created": len(made), "limited": limited, "waited": round(waited, 3)}))
print("rate limit checks passed")
