"""Replaying a recorded session through the faces, as if live (``wsmon-tui replay``).

``source.py`` reads a session back from the state database (read-only), ``episodes.py``
holds its alerts and rollbacks and how each looked at any instant, ``frames.py`` rebuilds
the Snapshot of one stored interval, and ``engine.py`` implements the seam
(``seam.ReplayLink``) by publishing those Snapshots at the recorded pace.
"""

from wsmon_tui.replay.engine import ReplayEngine, parse_speed
from wsmon_tui.replay.source import SessionInfo, StoreReader, UnknownSession, list_sessions

__all__ = ["ReplayEngine", "SessionInfo", "StoreReader", "UnknownSession", "list_sessions", "parse_speed"]
