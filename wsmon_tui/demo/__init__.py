"""The demo deployment: a WebSocket service with metrics, flags and a scripted fault."""

from __future__ import annotations

from wsmon_tui.demo.config import demo_config
from wsmon_tui.demo.server import DemoServer

__all__ = ["DemoServer", "demo_config"]
