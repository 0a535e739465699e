"""Per-target running state the Monitor keeps between ticks (engine-private, mutable).

Only the Monitor touches these; what leaves the engine is a frozen ``TargetView``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from wsmon_tui.config import TargetConfig
from wsmon_tui.model import BENIGN_CLOSE_CODES, ProbeResult, counts_close_code, counts_http_status


@dataclass(slots=True)
class ProbeRecord:
    ts: float
    ok: bool
    handshake_ms: float | None
    rtt_ms: float | None
    abnormal_close: bool
    error_class: str | None


@dataclass(slots=True)
class TargetState:
    config: TargetConfig
    recent: deque[ProbeRecord]
    """Probes in (at least) the evaluation window, newest last."""
    probes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    close_codes: Counter[str] = field(default_factory=Counter)
    http_statuses: Counter[str] = field(default_factory=Counter)
    overruns: int = 0
    last_probe: ProbeResult | None = None
    scrape_errors: int = 0
    scrape_failing: int = 0
    """Consecutive failed scrapes (0 after a good one)."""
    last_scrape_error: str = ""
    metrics: dict[str, float | None] = field(default_factory=dict)
    instances: dict[str, float] = field(default_factory=dict)
    status: str = "unknown"

    def observe(self, result: ProbeResult) -> None:
        self.probes += 1
        self.last_probe = result
        abnormal = False
        if not result.ok and result.error_class:
            self.errors[result.error_class] += 1
        if counts_close_code(result.ok, result.close_code):
            self.close_codes[str(result.close_code)] += 1
            abnormal = result.close_code not in BENIGN_CLOSE_CODES
        if counts_http_status(result.ok, result.http_status):
            self.http_statuses[str(result.http_status)] += 1
        self.recent.append(
            ProbeRecord(result.started_at, result.ok, result.handshake_ms, result.rtt_ms, abnormal,
                        None if result.ok else result.error_class)
        )

    def window(self, since: float) -> list[ProbeRecord]:
        return [r for r in self.recent if r.ts >= since]
