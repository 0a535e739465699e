"""The config: the typed schema, its loader and its checks.

``schema`` holds the dataclasses (every key with its type, default and one-line doc) and
the canonical metric names; ``load`` reads TOML into them (``${ENV}`` substitution,
the WEBSOCKET_* environment overrides, the config search path); ``checks`` validates
the result and collects every problem with its key path. Import from here.
"""

from __future__ import annotations

from typing import Any

from wsmon_tui.config.checks import smtp_server_problem
from wsmon_tui.config.load import (
    ENV_CONFIG,
    ENV_EMAIL_ENABLED,
    ENV_EMAIL_RECIPIENTS,
    ENV_LEVEL,
    ENV_SMTP_SERVER,
    ENV_WEBHOOK_URL,
    _Loader,
    find_and_load,
    load_config,
    read_toml,
)
from wsmon_tui.config.schema import (
    CANONICAL_METRICS,
    DEFAULT_RULE_NAMES,
    PERCENT_METRICS,
    RATE_METRICS,
    AlertsConfig,
    BaselineConfig,
    ChannelConfig,
    Config,
    DeploymentConfig,
    FlagsConfig,
    FleetConfig,
    Level,
    MaintenanceConfig,
    MetricsConfig,
    MonitorConfig,
    PrometheusConfig,
    ResourcesConfig,
    RollbackConfig,
    RuleConfig,
    StepConfig,
    TargetConfig,
    ThrottleConfig,
    UIConfig,
    _hints,
    doc,
)

__all__ = [
    "CANONICAL_METRICS",
    "DEFAULT_RULE_NAMES",
    "ENV_CONFIG",
    "ENV_EMAIL_ENABLED",
    "ENV_EMAIL_RECIPIENTS",
    "ENV_LEVEL",
    "ENV_SMTP_SERVER",
    "ENV_WEBHOOK_URL",
    "PERCENT_METRICS",
    "RATE_METRICS",
    "AlertsConfig",
    "Any",
    "BaselineConfig",
    "ChannelConfig",
    "Config",
    "DeploymentConfig",
    "FlagsConfig",
    "FleetConfig",
    "Level",
    "MaintenanceConfig",
    "MetricsConfig",
    "MonitorConfig",
    "PrometheusConfig",
    "ResourcesConfig",
    "RollbackConfig",
    "RuleConfig",
    "StepConfig",
    "TargetConfig",
    "ThrottleConfig",
    "UIConfig",
    "_Loader",
    "_hints",
    "doc",
    "find_and_load",
    "load_config",
    "read_toml",
    "smtp_server_problem",
]
