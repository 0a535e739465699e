"""The built-in config that monitors the demo deployment (``--demo``; examples/demo.toml)."""

from __future__ import annotations

import os

from wsmon_tui.config import (
    AlertsConfig,
    BaselineConfig,
    ChannelConfig,
    Config,
    DeploymentConfig,
    FlagsConfig,
    MetricsConfig,
    MonitorConfig,
    ResourcesConfig,
    RollbackConfig,
    StepConfig,
    TargetConfig,
)

ALERTS_FILE = "demo-alerts.jsonl"


def demo_config(url_base: str, state_dir: str | None) -> Config:
    """A config for the demo server at ``url_base`` (``http://127.0.0.1:PORT``).

    ``state_dir`` is where history goes (``[monitor] state_dir``) and where the ``file``
    alert channel writes; without it the channel writes ``demo-alerts.jsonl`` in the
    current directory (that is what examples/demo.toml says too).
    """
    base = url_base.rstrip("/")
    if base.startswith("https://"):
        ws_base = "wss://" + base.removeprefix("https://")
    else:
        ws_base = "ws://" + base.removeprefix("http://")
    port = _port(base)
    alerts_path = os.path.join(state_dir, ALERTS_FILE) if state_dir else ALERTS_FILE
    return Config(
        monitor=MonitorConfig(level="debug", interval=2.0, state_dir=state_dir),
        deployment=DeploymentConfig(name="demo-chat", version="2.0.0", previous_version="1.9.3",
                                    connection_limit=400),
        targets=[
            TargetConfig(name="chat-ws", url=ws_base + "/ws", send="ping {nonce}", expect="{nonce}",
                         timeout=5.0, metrics_url=base + "/metrics"),
            TargetConfig(name="presence-ws", url=ws_base + "/ws", hold=True, timeout=5.0),
        ],
        metrics=MetricsConfig(
            connections="ws_connections",
            messages="ws_messages_total",
            errors="ws_errors_total",
            queue_depth="ws_send_queue_depth",
            adoption='clients_by_transport{transport="websocket"} / clients_by_transport',
            latency_histogram="ws_message_latency_seconds",
        ),
        resources=ResourcesConfig(host=True, port=port),
        baseline=BaselineConfig(window=45.0),
        alerts=AlertsConfig(
            channels=[ChannelConfig(type="file", name="demo-file", min_severity="info",
                                    path=alerts_path)],
        ),
        rollback=RollbackConfig(
            auto=True, health_below=60.0, for_=10.0, max_auto=1, cooldown=120.0,
            verify_window=60.0, verify_successes=3,
            steps=[StepConfig(type="http", name="disable websocket_enabled", method="PUT",
                              url=base + "/flags/websocket_enabled", json={"enabled": False},
                              expect_status=[200], timeout=5.0)],
        ),
        flags=FlagsConfig(provider="http", url=base + "/flags"),
    )


def _port(url_base: str) -> int | None:
    host_port = url_base.split("://", 1)[-1].split("/", 1)[0]
    _, sep, port = host_port.rpartition(":")
    return int(port) if sep and port.isdigit() else None
