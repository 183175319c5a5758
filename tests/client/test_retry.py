"""retry.py: how long to wait before retrying a 429/503, and when to stop."""

from __future__ import annotations

import pytest

from ringcx_broker_client import RetryPolicy
from ringcx_broker_client.retry import parse_retry_after

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # a date already past: retry now
        (None, None),
        ("", None),
        ("-3", None),
        ("soon", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_reads_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("attempt", "retry_after", "elapsed", "wait"),
    [
        pytest.param(1, 2.0, 0.0, 2.0, id="server-says"),
        pytest.param(1, None, 0.0, 1.0, id="first-backoff"),
        pytest.param(3, None, 3.0, 4.0, id="third-backoff"),
        pytest.param(4, 1.0, 0.0, None, id="attempts-used-up"),
        pytest.param(1, 31.0, 0.0, None, id="longer-than-allowed"),
        pytest.param(2, 5.0, 26.0, None, id="would-pass-the-total"),
        pytest.param(2, 5.0, 25.0, 5.0, id="just-fits"),
    ],
)
def test_retry_policy_waits_within_both_bounds(
    attempt: int, retry_after: float | None, elapsed: float, wait: float | None
) -> None:
    policy = RetryPolicy(max_attempts=4, max_total_wait=30.0, base_wait=1.0)
    assert policy.wait_before(attempt, retry_after, elapsed) == wait


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"max_total_wait": -1.0}, {"base_wait": -0.5}],
)
def test_retry_policy_nonsense_bounds_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be at least 1|cannot be negative"):
        RetryPolicy(**options)
