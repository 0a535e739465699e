"""The ``[flags] rollout_flag`` key added for rollout tracking."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsmon_tui.config import load_config
from wsmon_tui.errors import ConfigError


def test_rollout_flag_defaults_to_websocket_enabled() -> None:
    assert load_config(None).flags.rollout_flag == "websocket_enabled"


def test_rollout_flag_is_read(tmp_path: Path) -> None:
    cfg = tmp_path / "wsmon.toml"
    cfg.write_text('[flags]\nprovider = "http"\nurl = "http://127.0.0.1:8765/flags"\n'
                   'rollout_flag = "ws.v2"\n')
    assert load_config(cfg).flags.rollout_flag == "ws.v2"


@pytest.mark.parametrize("value", ['""', '"has space"', '"x/y"', "3"])
def test_rollout_flag_must_be_a_flag_name(tmp_path: Path, value: str) -> None:
    cfg = tmp_path / "wsmon.toml"
    cfg.write_text(f"[flags]\nrollout_flag = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert "flags.rollout_flag" in str(info.value)
    assert str(cfg) in str(info.value)
