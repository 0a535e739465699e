"""SQLite history in ``<state_dir>/wsmon.db``: sessions, samples with 1-minute rollups, probe
results and an event log (``Store``; the design is in ``database.py``).

``connect`` (``connect.py``) is the one way any part of wsmon-tui opens the file.
"""

from wsmon_tui.store.connect import DB_NAME, connect, read_only_uri, state_db_path
from wsmon_tui.store.database import Store
from wsmon_tui.store.history import process_gone
from wsmon_tui.store.schema import ENDED_BY, SCHEMA_VERSION
from wsmon_tui.store.writer import BATCH_ROWS, QUEUE_MAX

__all__ = ["BATCH_ROWS", "DB_NAME", "ENDED_BY", "QUEUE_MAX", "SCHEMA_VERSION", "Store", "connect",
           "process_gone", "read_only_uri", "state_db_path"]
