"""The headless monitor's terminal table: server text is shown literally, never as markup."""

from __future__ import annotations

from rich.console import Console

from wsmon_tui.config import Config
from wsmon_tui.live import LivePrinter, status_line
from wsmon_tui.model import DeploymentView, ProbeResult, Snapshot, TargetView

HOSTILE = "[bold]evil[/bold] [/foo] \x1b[31mred\x07"


def snapshot() -> Snapshot:
    probe = ProbeResult(target=HOSTILE, started_at=1.0, ok=False, error_class="closed", detail=HOSTILE,
                        close_code=1011, close_reason=HOSTILE)
    target = TargetView(name=HOSTILE, url="ws://127.0.0.1:1/", status="critical", health_score=0.0,
                        last_probe=probe)
    return Snapshot(taken_at=1.0, tick=1, session_id="s", deployment=DeploymentView(HOSTILE, "1.0"),
                    level="debug", interval=1.0, status="critical", health_score=0.0, targets=(target,),
                    notes=(HOSTILE,))


def test_live_table_shows_server_text_literally():
    console = Console(record=True, width=200, force_terminal=True, color_system="standard")
    console.print(LivePrinter(Config()).render(snapshot()))
    text = console.export_text(styles=False)
    assert "[bold]evil[/bold]" in text and "[/foo]" in text
    raw = console.export_text(styles=True)
    assert "\x1b[31mred" not in raw and "\x07" not in raw


def test_plain_line_has_no_control_characters():
    line = status_line(snapshot())
    assert "\x1b" not in line and "\x07" not in line
    assert "CRITICAL" in line
