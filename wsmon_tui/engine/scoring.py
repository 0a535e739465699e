"""Health and performance scores, fleet roll-up, and degradation against a baseline.

The thresholds are the level's ``(warning, critical)`` pairs (``wsmon_tui.levels``).

**Health score (0-100).** Each signal a target has is turned into a penalty by a
piecewise-linear curve through its level thresholds::

    value <= good            ->   0
    good  .. warning         ->   0 .. 15     (linear)
    warning .. critical      ->  15 .. 50     (linear)
    critical .. 2 x critical ->  50 .. 100    (linear, capped at 100)

``good`` is 0 for rates and counts (any error costs something) and three quarters of the
warning threshold for latencies, queue depth and utilisation (``GOOD_SHARE``): a target
answering every probe well under its thresholds scores 100 (a 100 ms round trip against a
150 ms warning is not a fault; with ``good`` at half the warning it read 95).
The score is ``100 - (worst + 0.25 x sum of the other penalties)``, clamped to 0-100 and
rounded to one decimal: the worst signal dominates, the rest still pull the number down,
and the number moves smoothly well before the status flips. A target exactly at its
warning threshold scores about 85, at its critical threshold about 50; every probe
failing scores 0. A failing metrics scrape costs 15 (a warning).

Signals: probe error rate (or 1 - success rate) and abnormal closes (probes' and the held
connection's drops) per probe against
``error_rate``; handshake p95 against ``handshake_p95_ms``; RTT p95 against
``rtt_p95_ms``; server error rate against ``error_rate``; queue depth against
``queue_depth``; connection utilisation against ``connection_utilisation``.

**Status.** ``unknown`` with no probes yet; ``critical`` when any signal is past (``>``)
its critical threshold or every probe failed; ``degraded`` when any signal is past its
warning threshold or the scrape fails; else ``healthy``. Reasons are plain sentences for
people, e.g. ``"error rate 18% > 15% (critical)"``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wsmon_tui.levels import LevelProfile

HEALTHY, DEGRADED, CRITICAL, UNKNOWN = "healthy", "degraded", "critical", "unknown"
STATUS_RANK = {UNKNOWN: -1, HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}

PENALTY_AT_WARNING = 15.0
PENALTY_AT_CRITICAL = 50.0
OTHERS_WEIGHT = 0.25
SCRAPE_FAILURE_PENALTY = 15.0
GOOD_SHARE = 0.75
"""Latencies, queue depth and utilisation cost nothing up to this share of their warning."""


@dataclass(frozen=True, slots=True)
class TargetHealthInput:
    """What the scorer needs about one target over the evaluation window.

    Rates and utilisation are shares 0-1; latencies are milliseconds; ``abnormal_closes``
    counts closes with a non-benign code in the window; ``scrape_ok`` is None when the
    target has no metrics endpoint.
    """

    probes: int
    success_rate: float | None
    error_rate: float | None
    handshake_p95: float | None
    rtt_p95: float | None
    abnormal_closes: int = 0
    hold_drops: int = 0
    """Abnormal drops of the held connection in the window: each counts as an abnormal close."""
    server_error_rate: float | None = None
    queue_depth: float | None = None
    connection_utilisation: float | None = None
    scrape_ok: bool | None = None


def penalty(value: float, warning: float, critical: float, good: float = 0.0) -> float:
    """Points a signal costs (0-100): the piecewise-linear curve in the module docstring."""
    if value <= good:
        return 0.0
    if value <= warning:
        span = warning - good
        return PENALTY_AT_WARNING * (value - good) / span if span > 0 else PENALTY_AT_WARNING
    if value <= critical:
        span = critical - warning
        frac = (value - warning) / span if span > 0 else 1.0
        return PENALTY_AT_WARNING + (PENALTY_AT_CRITICAL - PENALTY_AT_WARNING) * frac
    over = (value - critical) / critical if critical > 0 else 1.0
    return min(100.0, PENALTY_AT_CRITICAL + (100.0 - PENALTY_AT_CRITICAL) * min(1.0, over))


def _pct(x: float) -> str:
    p = x * 100
    if p != 0 and abs(p) < 10 and round(p) != round(p, 1):
        return f"{p:.1f}%"
    return f"{p:.0f}%"


def _ms(x: float) -> str:
    return f"{x:.0f} ms"


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:g}"


def combine(penalties: Sequence[float]) -> float:
    """``100 - (worst + 0.25 x the rest)``, clamped to 0-100."""
    if not penalties:
        return 100.0
    worst = max(penalties)
    rest = sum(penalties) - worst
    return max(0.0, min(100.0, 100.0 - worst - OTHERS_WEIGHT * rest))


def score_target(inp: TargetHealthInput, level: LevelProfile) -> tuple[float | None, str, list[str]]:
    """``(health 0-100 or None, status, reasons)`` for one target; see the module docstring."""
    if inp.probes <= 0:
        return None, UNKNOWN, ["no probes yet"]

    penalties: list[float] = []
    reasons: list[str] = []
    status = HEALTHY

    def judge(label: str, value: float | None, pair: tuple[float, float], fmt: Callable[[float], str],
              good: float = 0.0,
              shown: str | None = None) -> None:
        nonlocal status
        if value is None:
            return
        warn, crit = pair
        penalties.append(penalty(value, warn, crit, good))
        text = shown if shown is not None else fmt(value)
        if value > crit:
            reasons.append(f"{label} {text} > {fmt(crit)} (critical)")
            status = CRITICAL
        elif value > warn:
            reasons.append(f"{label} {text} > {fmt(warn)} (warning)")
            if status == HEALTHY:
                status = DEGRADED

    error_rate = inp.error_rate
    if error_rate is None and inp.success_rate is not None:
        error_rate = 1.0 - inp.success_rate
    all_failing = error_rate is not None and error_rate >= 1.0

    if all_failing:
        reasons.append(f"every probe failing ({inp.probes} of {inp.probes})")
        status = CRITICAL
        penalties.append(100.0)
    else:
        judge("error rate", error_rate, level.error_rate, _pct)
    closes = inp.abnormal_closes + inp.hold_drops
    if closes > 0:
        share = closes / inp.probes
        held = f" + {inp.hold_drops} held-connection drop{'s' if inp.hold_drops != 1 else ''}" \
            if inp.hold_drops else ""
        judge("abnormal closes", share, level.error_rate, _pct,
              shown=f"{inp.abnormal_closes} in {inp.probes} probes{held} ({_pct(share)})")
    hw, hc = level.handshake_p95_ms
    judge("handshake p95", inp.handshake_p95, (hw, hc), _ms, good=hw * GOOD_SHARE)
    rw, rc = level.rtt_p95_ms
    judge("rtt p95", inp.rtt_p95, (rw, rc), _ms, good=rw * GOOD_SHARE)
    judge("server error rate", inp.server_error_rate, level.error_rate, _pct)
    qw, qc = level.queue_depth
    judge("queue depth", inp.queue_depth, (qw, qc), _num, good=qw * GOOD_SHARE)
    uw, uc = level.connection_utilisation
    judge("connection utilisation", inp.connection_utilisation, (uw, uc), _pct, good=uw * GOOD_SHARE)
    if inp.scrape_ok is False:
        penalties.append(SCRAPE_FAILURE_PENALTY)
        reasons.append("metrics scrape failing")
        if status == HEALTHY:
            status = DEGRADED

    score = 0.0 if all_failing else combine(penalties)
    return round(score, 1), status, reasons


def performance_score(handshake_p95: float | None, rtt_p95: float | None,
                      level: LevelProfile) -> float | None:
    """Latency-only score: 100 at/below ``GOOD_SHARE`` of the warning threshold, 60 at warning,
    0 at/above critical, linear in between; the worse of handshake and RTT. None without data."""
    parts: list[float] = []
    for value, (warn, crit) in ((handshake_p95, level.handshake_p95_ms), (rtt_p95, level.rtt_p95_ms)):
        if value is None:
            continue
        good = warn * GOOD_SHARE
        if value <= good:
            parts.append(100.0)
        elif value <= warn:
            parts.append(100.0 - 40.0 * (value - good) / (warn - good))
        elif value < crit:
            parts.append(60.0 - 60.0 * (value - warn) / (crit - warn))
        else:
            parts.append(0.0)
    return round(min(parts), 1) if parts else None


def overall(scores: Sequence[tuple[float | None, str]]) -> tuple[float | None, str]:
    """Fleet health from per-target ``(score, status)`` pairs.

    Targets still ``unknown`` are left out (one target without data does not make the
    fleet unknown); with none known the fleet is ``(None, "unknown")``. The status is the
    worst known status. The score is ``(mean + min) / 2`` of the known scores: the mean
    alone would let one dead target among ten read as 90, the min alone would hide how
    much of the fleet is fine.
    """
    known = [(s, st) for s, st in scores if s is not None and st != UNKNOWN]
    if not known:
        return None, UNKNOWN
    values = [s for s, _ in known]
    status = max((st for _, st in known), key=lambda st: STATUS_RANK.get(st, 0))
    score = (statistics.fmean(values) + min(values)) / 2
    return round(score, 1), status


class Baseline:
    """Degradation detection: is a target worse than it was at the start (or before)?

    The baseline of a target is either accumulated during the first ``window`` seconds of
    the session (``observe``), or seeded from the previous version's last session
    (``seed``); a seeded baseline wins and ``observe`` leaves it alone. Handshake p95's
    baseline is the median of the observed p95s, the error rate's the mean.

    A target is degraded when handshake p95 > ``max(baseline, latency_floor_ms) x ratio``
    or error rate > ``max(baseline, error_floor) x ratio``. The floors keep noise on an
    idle, very fast target (2 ms -> 5 ms, or 0 -> 0.1% errors) from reading as a
    regression.
    """

    MAX_SAMPLES = 10_000

    def __init__(self, window: float, ratio: float, *, error_floor: float = 0.01,
                 latency_floor_ms: float = 20.0) -> None:
        if ratio < 1.0:
            raise ValueError("ratio must be at least 1")
        self.window = window
        self.ratio = ratio
        self.error_floor = error_floor
        self.latency_floor_ms = latency_floor_ms
        self._handshake: dict[str, list[float]] = {}
        self._errors: dict[str, list[float]] = {}
        self._ready: set[str] = set()
        self._seeded: dict[str, tuple[float | None, float | None]] = {}

    def observe(self, target: str, now: float, session_start: float,
                handshake_p95: float | None, error_rate: float | None) -> None:
        if target in self._seeded:
            return
        if now - session_start >= self.window:
            if self._handshake.get(target) or self._errors.get(target):
                self._ready.add(target)
            return
        if handshake_p95 is not None:
            hs = self._handshake.setdefault(target, [])
            if len(hs) < self.MAX_SAMPLES:
                hs.append(handshake_p95)
        if error_rate is not None:
            er = self._errors.setdefault(target, [])
            if len(er) < self.MAX_SAMPLES:
                er.append(error_rate)

    def seed(self, target: str, handshake_p95: float | None, error_rate: float | None) -> None:
        if handshake_p95 is None and error_rate is None:
            return
        self._seeded[target] = (handshake_p95, error_rate)

    def ready(self, target: str) -> bool:
        return target in self._seeded or target in self._ready

    def values(self, target: str) -> tuple[float | None, float | None] | None:
        """``(handshake_p95, error_rate)`` of the baseline, None until it is ready.

        The Monitor stores this at the end of a session so the next version can ``seed``.
        """
        if target in self._seeded:
            return self._seeded[target]
        if target not in self._ready:
            return None
        hs = self._handshake.get(target)
        er = self._errors.get(target)
        return (statistics.median(hs) if hs else None, statistics.fmean(er) if er else None)

    def degraded(self, target: str, handshake_p95: float | None,
                 error_rate: float | None) -> tuple[bool, str]:
        """``(True, why)`` when worse than the baseline by ``ratio``; ``(False, "")`` otherwise
        (including while the baseline is still forming)."""
        base = self.values(target)
        if base is None:
            return False, ""
        base_hs, base_er = base
        why: list[str] = []
        if handshake_p95 is not None and base_hs is not None:
            limit = max(base_hs, self.latency_floor_ms) * self.ratio
            if handshake_p95 > limit:
                times = handshake_p95 / max(base_hs, 1e-9)
                why.append(f"handshake p95 {_ms(handshake_p95)} is {times:.1f}x the baseline {_ms(base_hs)}")
        if error_rate is not None and base_er is not None:
            limit = max(base_er, self.error_floor) * self.ratio
            if error_rate > limit:
                why.append(f"error rate {_pct(error_rate)} vs baseline {_pct(base_er)} "
                           f"(limit {_pct(limit)})")
        return bool(why), "; ".join(why)
