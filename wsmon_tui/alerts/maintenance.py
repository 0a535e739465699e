"""Maintenance windows (``[[alerts.maintenance]]``): while one is open, alerts are muted.

``start`` is an ISO 8601 time (a naive one is read in ``timezone``) or ``"HH:MM"`` with
``every``. Repeats that are whole days step in local wall-clock time, so a daily 02:00
window in Europe/Berlin stays at 02:00 across daylight-saving changes; other periods step
in absolute seconds. A ``"HH:MM"`` window repeating every N days counts its days from
1970-01-01 (use an ISO start to pin a weekday for weekly windows).
"""

from __future__ import annotations

import math
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from wsmon_tui.config import MaintenanceConfig

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAY = 86400.0
_EPOCH_DATE = date(1970, 1, 1)


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


class MaintenanceWindow:
    """One configured window; ``active(now)`` says whether ``now`` (epoch seconds) is inside it."""

    __slots__ = ("_anchor_date", "_anchor_ts", "_clock_time", "_days", "_every", "comment", "duration",
                 "tz")

    def __init__(self, cfg: MaintenanceConfig) -> None:
        self.tz = _zone(cfg.timezone)
        self.duration = float(cfg.duration)
        self.comment = cfg.comment
        self._every = float(cfg.every) if cfg.every else None
        self._days: int | None = None
        if self._every is not None and self._every % _DAY == 0:
            self._days = int(self._every // _DAY)
        match = _HHMM.match(cfg.start.strip())
        if match:
            self._clock_time = time(int(match.group(1)), int(match.group(2)))
            self._anchor_date = _EPOCH_DATE
        else:
            start = datetime.fromisoformat(cfg.start.strip())
            if start.tzinfo is None:
                start = start.replace(tzinfo=self.tz)
            local = start.astimezone(self.tz)
            self._clock_time = local.timetz().replace(tzinfo=None)
            self._anchor_date = local.date()
        self._anchor_ts = self._local_ts(self._anchor_date)

    def _local_ts(self, day: date) -> float:
        return datetime.combine(day, self._clock_time, tzinfo=self.tz).timestamp()

    def active(self, now: float) -> bool:
        if self._every is None:
            return self._anchor_ts <= now < self._anchor_ts + self.duration
        if self._days is not None:
            today = datetime.fromtimestamp(now, self.tz).date()
            elapsed = (today - self._anchor_date).days
            k = math.floor(elapsed / self._days)
            back = math.ceil(self.duration / (self._days * _DAY)) + 1
            for i in range(k, k - back - 1, -1):
                if i < 0:
                    break
                begin = self._local_ts(self._anchor_date + timedelta(days=i * self._days))
                if begin <= now < begin + self.duration:
                    return True
            return False
        if now < self._anchor_ts:
            return False
        k = math.floor((now - self._anchor_ts) / self._every)
        back = math.ceil(self.duration / self._every) + 1
        return any(self._anchor_ts + i * self._every <= now < self._anchor_ts + i * self._every
                   + self.duration for i in range(max(k - back, 0), k + 1))
