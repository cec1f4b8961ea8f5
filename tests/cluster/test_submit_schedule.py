"""Cron expressions for recurring runs: KFP's six fields (seconds first) and Argo's five."""

from __future__ import annotations

import pytest

from kfp_jupyter.cluster.errors import InvalidSubmission
from kfp_jupyter.cluster.schedule import check_cron


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 9 * * 1-5",
        "*/30 * * * * *",
        "0 15,45 8-18/2 ? JAN-MAR mon,WED",
        "0 0 0 1 * ?",
        "@daily",
        "@every 1h30m",
        "@every 90s",
        "  0  0  6 * * *  ",
    ],
)
def test_kfp_accepts(expr):
    assert check_cron(expr, "kfp") == " ".join(expr.split())


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 9 * * 1", "write '0 0 9 * * 1'"),  # a crontab line KFP would misread
        ("60 0 9 * * *", "second: 60 is out of range 0-59"),
        ("0 0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 0 0 0 * *", "day of month: 0 is out of range 1-31"),
        ("0 0 0 * 13 *", "month: 13 is out of range 1-12"),
        ("0 0 0 * * 7", "day of week: 7 is out of range 0-6"),
        ("0 0 0 * FOO *", "month: 'FOO' is not a number or a name (JAN..)"),
        ("0 5-1 * * * *", "minute: range 5-1 is backwards"),
        ("*/0 * * * * *", "second: invalid step in '*/0'"),
        ("0 ? * * * *", "minute: '?' is not a number"),
        ("0 0 1,,2 * * *", "hour: empty list item"),
        ("@every soon", "unknown descriptor"),
        ("* * * * * * *", "expected 6 fields, found 7"),
        ("", "the cron expression is empty"),
    ],
)
def test_kfp_refuses(expr, message):
    with pytest.raises(InvalidSubmission) as info:
        check_cron(expr, "kfp")
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_argo_takes_five_fields():
    assert check_cron("30 6 * * 1-5", "argo") == "30 6 * * 1-5"
    assert check_cron("@hourly", "argo") == "@hourly"
    with pytest.raises(InvalidSubmission, match="drop the seconds field: '30 6 \\* \\* \\*'"):
        check_cron("0 30 6 * * *", "argo")
    with pytest.raises(InvalidSubmission, match="unknown descriptor"):
        check_cron("@every 1h", "argo")
    with pytest.raises(InvalidSubmission, match="minute: 60 is out of range"):
        check_cron("60 * * * *", "argo")
