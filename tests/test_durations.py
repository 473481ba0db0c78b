"""Durations, Camunda retry cycles and full-jitter backoff."""

from __future__ import annotations

import random

import pytest

from engine.durations import backoff, parse_duration, parse_retry_cycle
from engine.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT10M", 600.0),
        ("PT1H30M", 5400.0),
        ("P1D", 86400.0),
        ("PT0.5S", 0.5),
        ("PT0,5S", 0.5),
        ("P1DT2H", 93600.0),
        ("P2W", 14 * 86400.0),
        ("pt30s", 30.0),
        (" PT1M ", 60.0),
        ("30", 30.0),
        ("1.5", 1.5),
        (30, 30.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "P1DT", "10 minutes", "PT-5S", "-3", "PT1X", "1D", True, None, [1], float("nan"), float("inf")],
)
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigurationError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P1Y", "P1M", "P1Y2M"])
def test_parse_duration_refuses_calendar_units(text):
    with pytest.raises(ConfigurationError, match="days"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "delays"),
    [
        ("R5/PT1M", [60.0] * 5),
        ("r2/PT10S", [10.0, 10.0]),
        ("R0/PT1M", []),
        ("PT10S,PT1M,PT10M", [10.0, 60.0, 600.0]),
        ("PT10S, PT1M", [10.0, 60.0]),
        ("PT5S", [5.0]),
        (["PT10S", 60, 1.5], [10.0, 60.0, 1.5]),
    ],
)
def test_parse_retry_cycle(text, delays):
    assert parse_retry_cycle(text) == delays


@pytest.mark.parametrize("text", ["", "R/PT1M", "R5/", "R5/soon", "PT10S,,PT1M", "R5000/PT1S", 5, ["PT1S", "x"]])
def test_parse_retry_cycle_rejects(text):
    with pytest.raises(ConfigurationError):
        parse_retry_cycle(text)


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 30.0), (10_000, 30.0)]:
        samples = [backoff(attempt, 1.0, 30.0, rng) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # uses the whole range ...
        assert min(samples) < ceiling * 0.2  # ... down to zero (full jitter)


def test_backoff_is_reproducible_with_a_seeded_rng_and_handles_odd_input():
    assert backoff(3, 2.0, 60.0, random.Random(1)) == backoff(3, 2.0, 60.0, random.Random(1))
    assert 0.0 <= backoff(0, 1.0, 10.0) <= 1.0
    assert backoff(5, 0.0, 10.0) == 0.0
