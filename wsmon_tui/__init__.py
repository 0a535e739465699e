"""wsmon-tui: watch a WebSocket deployment roll out, be told when it is unhealthy, and undo it."""

__version__ = "0.1.0"
