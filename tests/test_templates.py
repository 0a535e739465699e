"""Alert templates: checked when the config loads, capped when they render, and never in the
way of a notification."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.receivers import make_notification, recording_server
from tests.test_alert_engine import Clock, World, err_rule, make_config
from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.alerts.outbox import Outbox
from wsmon_tui.alerts.rules import render
from wsmon_tui.config import ChannelConfig
from wsmon_tui.config.templates import MAX_RENDERED, template_problem

ROOT = Path(__file__).resolve().parents[1]

RULE = """
[[targets]]
name = "a"
url = "wss://example.com/ws"

[[alerts.rules]]
name = "Slow"
metric = "handshake_p95"
op = ">"
threshold = 100
{key} = {value}
"""


@pytest.mark.parametrize("key, template, why", [
    ("summary", "{value:>99999999999}", "width 99999999999 is over the limit of 200"),
    ("description", "{threshold:.99999f}", "precision 99999 is over the limit of 20"),
    ("runbook", "https://x/{target:.2%}", "does not fit target (a text)"),
    ("summary", "{value:{threshold}}", "nested fields"),
    ("summary", "closing } alone", "write {{ and }} for literal braces"),
])
def test_a_bad_template_is_a_config_error_naming_file_key_and_value(tmp_path: Path, key: str, template: str,
                                                                    why: str) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_text(RULE.format(key=key, value='"' + template + '"'))
    proc = subprocess.run([sys.executable, "-m", "wsmon_tui", "config", "check", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{path}: alerts.rules[0].{key}: invalid template" in proc.stderr
    assert template in proc.stderr and why in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("template", [
    "{value:.1%} over {threshold:,.2f} on {target:>20} ({severity:^10})", "{value:08.3f}", "{value:d}",
    "{{literal}} {nope:>99999999999} {0}", "plain text",
])
def test_good_templates_pass(template: str) -> None:
    assert template_problem(template) is None


def test_a_template_that_renders_huge_is_cut() -> None:
    out = render("{target:>200}" * 100, {"target": "x"})
    assert len(out) == MAX_RENDERED and out.endswith("…")
    out = render("{target} is down", {"target": "t" * 1_000_000})
    assert len(out) == MAX_RENDERED


def test_render_never_raises_and_says_why() -> None:
    errors: list[str] = []
    assert render("{value:>99999999999}", {"value": 0.5}, errors) == "{value:>99999999999}"
    assert render("{value:.99999f}", {"value": 0.5}, errors) == "{value:.99999f}"
    assert errors == ["{value:>99999999999}: width 99999999999 is over the limit of 200",
                      "{value:.99999f}: precision 99999 is over the limit of 20"]


async def test_a_template_failing_at_fire_time_still_notifies(caplog: pytest.LogCaptureFixture) -> None:
    """A rule built without the loader's check (or a value the spec does not fit): the alert fires,
    its text is the template as written, the log says why, and the receiver gets it."""
    clock = Clock()
    rule = err_rule(name="HugeTemplate", summary="{value:>99999999999} errors", description="{target:.2%}")
    engine = AlertEngine(make_config(rule), None, clock=clock)
    try:
        with caplog.at_level("WARNING", logger="wsmon_tui.alerts.notify_pass"):
            _views, notes = World(clock).run(engine, error_rate=0.5)
    finally:
        engine.close()
    [note] = [n for n in notes if n.kind == "firing"]
    assert note.alert.summary == "{value:>99999999999} errors" and note.alert.description == "{target:.2%}"
    [said] = [r.getMessage() for r in caplog.records if "HugeTemplate" in r.getMessage()]
    assert "template not filled" in said and "width 99999999999" in said
    with recording_server() as rx:
        channel = ChannelConfig(type="webhook", url=rx.url, min_severity="info")
        box = Outbox(None, [channel], deployment="chat", clock=clock)
        try:
            box.enqueue([note, make_notification("other", created_at=clock.t)])
            await box.drain(5)
            reqs = await rx.wait_for(2)
        finally:
            await box.aclose()
    # the two go out in parallel: find this one by name, not by arrival order
    [annotations] = [a["annotations"] for r in reqs for a in r.json["alerts"]
                     if a["labels"]["alertname"] == "HugeTemplate"]
    assert annotations["summary"] == "{value:>99999999999} errors"
