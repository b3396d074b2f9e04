"""What the Python client checks share: a check that fails raises
CheckFailed with what it saw (an explicit exception, not `assert`, so
`python -O` cannot turn the checks off)."""


class CheckFailed(Exception):
    """cohort answered something Zulip would not."""


def expect(condition, detail):
    if not condition:
        raise CheckFailed(detail)


def ok(result, what):
    expect(result.get("result") == "success", f"{what}: {result}")
    return result
