"""Monitoring levels: how often to probe and how strict the default thresholds are.

The README carries this table for people; keep the two in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LevelProfile:
    name: str
    interval: float
    """Seconds between probes of a target."""
    error_rate: tuple[float, float]
    """(warning, critical) share of failed probes, 0-1."""
    handshake_p95_ms: tuple[float, float]
    rtt_p95_ms: tuple[float, float]
    cpu_percent: tuple[float, float]
    memory_percent: tuple[float, float]
    queue_depth: tuple[float, float]
    connection_utilisation: tuple[float, float]
    """(warning, critical) share of ``connection_limit`` in use, 0-1."""
    imbalance: float
    """max/mean connections per instance above this is a warning."""
    adoption_drop: float
    """adoption falling below this share of its baseline is a warning."""
    window: float
    """Evaluation window for rates and percentiles, seconds."""
    alert_for: float
    """Default ``for`` of the level's default rules, seconds."""


LEVELS: dict[str, LevelProfile] = {
    "basic": LevelProfile("basic", 60.0, (0.10, 0.25), (2000, 5000), (1000, 3000), (90, 98),
                          (90, 97), (5000, 20000), (0.90, 0.98), 2.0, 0.5, 600.0, 180.0),
    "standard": LevelProfile("standard", 30.0, (0.05, 0.15), (1000, 3000), (500, 2000), (85, 95),
                             (85, 95), (1000, 5000), (0.80, 0.95), 1.5, 0.7, 300.0, 60.0),
    "comprehensive": LevelProfile("comprehensive", 10.0, (0.02, 0.10), (500, 1500), (250, 1000),
                                  (80, 90), (80, 90), (500, 2000), (0.75, 0.90), 1.3, 0.8, 120.0,
                                  30.0),
    "debug": LevelProfile("debug", 5.0, (0.01, 0.05), (300, 1000), (150, 500), (75, 90), (75, 90),
                          (200, 1000), (0.70, 0.85), 1.2, 0.9, 60.0, 10.0),
}


def evaluation_window(level_window: float, interval: float) -> float:
    """Seconds rates and percentiles are judged over: the last ten probe intervals, at most the
    level's window, at least three intervals (the Monitor's ``window``; rules read it too)."""
    return max(min(level_window, interval * 10), interval * 3)


def min_probes(span: float, interval: float) -> int:
    """The least evidence a rate or success rule needs over ``span`` seconds: a third of the
    probes expected in it, and never fewer than three (one refused probe is no rate)."""
    expected = span / interval if interval > 0 else 0.0
    return max(3, math.ceil(expected / 3 - 1e-9))
