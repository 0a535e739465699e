"""Every coloured state is readable in every shipped theme, in truecolor, 256 and 16 colours.

The app is run (``App.run_test``) once per theme, with and without NO_COLOR, and walked
through scenes: the summary in each health state and each rollback state, the detailed
and alerts tables, the metrics range line, the help, the rollback dialog and the rollback
progress in each state. In each scene the words in ``PROBES`` are found on the drawn
screen and every cell of each is judged as the terminal will get it: the colours Textual
wrote for it, reduced to 256 or 16 colours by Rich (``contrast_support.shown``). Each
must reach 4.5:1 (WCAG 2.x AA); a failure names the theme, the state and the depth.
Under NO_COLOR no colour may reach the terminal at all, and states must be told apart by
their words and by bold / reverse. Every cell of every scene must paint a background: a
cell left in the terminal's own background shows whatever that is (dark or light).

A new coloured thing (a banner, a badge) gets a line in ``PROBES``: the scene it shows in,
the widget (a CSS selector) and a regular expression for its text.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import cache
from unittest import mock

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable

from tests.contrast_support import DEPTHS, MINIMUM, Cell, cell_contrast, find, screen_cells, visible_region
from tests.test_tui_app import make_app
from tests.tui_fixtures import BASE, FakeMonitor, alert, snapshot, target
from wsmon_tui.model import RollbackView, Snapshot
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.confirm_rollback import RollbackProgressScreen
from wsmon_tui.tui.themes import load_themes

THEMES = load_themes(include_user=False).names()
HEALTH = ("healthy", "degraded", "critical", "unknown")
ROLLBACK = ("idle", "running", "verifying", "verified", "failed_verification", "failed", "dry_run")
SEVERITIES = ("critical", "warning", "info")
TARGETS = {health: f"api-{'abcd'[i]}" for i, health in enumerate(HEALTH)}
"""One target per health state; the names hold no state word, so a pattern finds the state only."""

# alert state -> (rule, the word its row shows)
ALERTS = {
    "firing": ("HighErrorRate", "firing"),
    "pending": ("SlowHandshake", "pending"),
    "acknowledged": ("QueueDepth", "alice"),
    "silenced": ("Latency", "silenced"),
    "inhibited": ("ScrapeErrors", "inhibited"),
    "resolved": ("Reconnects", "resolved"),
    "stale": ("Adoption", "stale"),
}
SIZE = (120, 40)
ALL_DEPTHS = (*DEPTHS, "no-color")
"""``no-color``: NO_COLOR is set, and no colour may reach the terminal at all (its own
foreground on its own background is readable by definition)."""


def word(text: str) -> str:
    """A pattern for ``text`` as a whole word (a hyphen or underscore does not end one)."""
    return rf"(?<![\w-])({re.escape(text)})(?![\w-])"


@dataclass(frozen=True)
class Probe:
    """Where a coloured state is drawn: in scene ``scene``, inside the widget ``where``
    (a CSS selector), the text of the first group of ``pattern``."""

    state: str
    scene: str
    where: str
    pattern: str
    row: str | None = None
    """``cursor`` or ``header`` (a DataTable's), or a text the row must contain."""

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


BANNER_PARTS = {
    "state": r"(ROLLBACK .*?\S)\s+(?:for|ended) ",
    "time": r"((?:for|ended) \d\S*(?: ago)?)",
    "trigger": r"trigger: (manual\S*)",
    "step": r"^(?!.*ROLLBACK)\s+(\S.*\S)",
}
"""The incident banner's parts: its state word (reversed), how long, what set it off, the step line."""

PROBES: tuple[Probe, ...] = (
    # header and tabs
    Probe("header title", "summary-healthy", "#header", r"^\s*(wsmon)\b"),
    Probe("header deployment", "summary-healthy", "#header", word("chat-gateway")),
    Probe("header age", "summary-healthy", "#header", r"(updated \S+ ago)"),
    Probe("header muted", "summary-healthy", "#header", r"(prev \S+)"),
    Probe("header paused", "summary-paused", "#header", word("PAUSED")),
    # without a critical alert firing: with one the header says CRITICAL whatever the score says
    *(Probe(f"health {h} (header)", f"header-{h}", "#header", rf"\b({h.upper()})\b") for h in HEALTH),
    Probe("tab current", "summary-healthy", "#tabs", r"(1 Summary)"),
    Probe("tab other", "summary-healthy", "#tabs", r"(2 Detailed)"),
    Probe("footer key", "summary-healthy", "Footer", r"(?<!\S)(p) Pause"),
    Probe("footer description", "summary-healthy", "Footer", r"(?<!\S)p (Pause)"),
    # summary body
    *(Probe(f"health {h} (card)", "summary-healthy", "#board-cards", word(h.upper())) for h in HEALTH),
    Probe("card title", "summary-healthy", "#board-cards", word(TARGETS["healthy"])),
    Probe("card label", "summary-healthy", "#board-cards", r"(p95 handshake)"),
    Probe("figure label", "summary-healthy", "#figures", word("Connections")),
    Probe("figure value", "summary-healthy", "#figure-connections", r"(\d[\d,.]*)"),
    *(Probe(f"severity {s} (alerts panel)", "summary-healthy", "#alerts-panel", word(s))
      for s in SEVERITIES),
    Probe("alerts panel all clear", "summary-rollback-idle", "#alerts-panel", r"(no active alerts)"),
    # "failed_verification" wraps in the narrow rollout panel; the banner carries that state
    *(Probe(f"rollback {r} (summary)", f"summary-rollback-{r}", "#rollout-panel", rf"Rollback ({r})\b")
      for r in ROLLBACK if r != "failed_verification"),
    Probe("rollout label", "summary-healthy", "#rollout-panel", word("Rollout")),
    Probe("rollout value", "summary-healthy", "#rollout-panel", r"Rollout\s+(\S+ on \S+)"),
    Probe("rollback recommended (summary)", "summary-healthy", "#rollout-panel", r"(rollback recommended)"),
    Probe("rollback reason (summary)", "summary-healthy", "#rollout-panel", r"(HighErrorRate firing)"),
    Probe("rollback under way (summary)", "summary-rollback-running", "#rollout-panel", r"(under way \S+)"),
    # the incident banner, in each of its levels (running/verifying, verified/dry run, failed)
    *(Probe(f"banner {r} {part}", f"summary-rollback-{r}", ".rollback-banner", pattern)
      for r in ROLLBACK if r != "idle" for part, pattern in BANNER_PARTS.items()),
    # the detailed table
    *(Probe(f"health {h} (table)", "detailed", "#targets-table", word(h), row=TARGETS[h]) for h in HEALTH),
    Probe("table header (detailed)", "detailed", "#targets-table", word("Status"), row="header"),
    Probe("cursor row (detailed)", "detailed", "#targets-table", r"(\S.*\S)", row="cursor"),
    # the alerts table
    *(Probe(f"alert {state}", "alerts", "#alerts-table", word(shows), row=rule)
      for state, (rule, shows) in ALERTS.items()),
    *(Probe(f"severity {s} (alerts table)", "alerts", "#alerts-table", word(s)) for s in SEVERITIES),
    Probe("table cell", "alerts", "#alerts-table", word("SlowHandshake")),
    Probe("table header (alerts)", "alerts", "#alerts-table", word("Severity"), row="header"),
    Probe("cursor row (alerts)", "alerts", "#alerts-table", r"(\S.*\S)", row="cursor"),
    Probe("cursor row unfocused", "alerts-filter", "#alerts-table", r"(\S.*\S)", row="cursor"),
    # metrics, help, dialogs
    Probe("range selected", "metrics", "#range-line", r"(\[5m\])"),
    Probe("range other", "metrics", "#range-line", word("1h")),
    Probe("help section", "help", "#help-text", word("Everywhere")),
    Probe("help tooltip", "help", "#help-text", r"(Every binding)"),
    Probe("dialog text", "rollback-dialog", "#rollback-summary", r"(Steps that will run, in order:)"),
    Probe("dialog hint", "rollback-dialog", ".hint", r"(Focus is on Cancel)"),
    Probe("dialog cancel button", "rollback-dialog", "#cancel", word("Cancel")),
    Probe("dialog confirm button", "rollback-dialog", "#confirm", r"(Roll back)"),
    *(Probe(f"rollback {r} (progress)", f"progress-{r}", "#rollback-progress-text", rf"Rollback #\d+ ({r})\b")
      for r in ROLLBACK if r != "idle"),  # an idle panel waits for the attempt it follows
    *(Probe(f"rollback verification {r}", f"progress-{r}", "#rollback-progress-text", r"Verification: (.*\S)")
      for r in ROLLBACK if r != "idle"),
    *(Probe(f"rollback step {s}", "progress-running", "#rollback-progress-text", rf"\d\. \S+\s+({s})\b")
      for s in ("ok", "failed", "running")),
)


# -- what the app is shown ------------------------------------------------------------------


def health_snapshot(status: str) -> Snapshot:
    alerts = []
    for state, (rule, _) in ALERTS.items():
        severity = {"firing": "critical", "acknowledged": "info", "stale": "info"}.get(state, "warning")
        kind = state if state in ("pending", "resolved", "stale") else "firing"
        acked = "alice" if state == "acknowledged" else None
        a = alert(rule, TARGETS["degraded"], severity, kind, acked=acked)
        alerts.append(replace(a, silenced=state == "silenced",
                              inhibited_by="TargetDown" if state == "inhibited" else ""))
    targets = tuple(target(name, i, status=h) for i, (h, name) in enumerate(TARGETS.items()))
    snap = snapshot(3, targets=targets, alerts=tuple(alerts),
                    rollback=RollbackView(id=None, state="idle", recommended=True,
                                          reason=f"HighErrorRate firing on {TARGETS['degraded']}"))
    return replace(snap, status=status)


def rollback_snapshot(state: str) -> Snapshot:
    steps = ({"name": "flag", "status": "ok"}, {"name": "deploy", "ok": False, "detail": "HTTP 503"},
             {"name": "verify", "status": "running"})
    ended = state not in ("idle", "running", "verifying")
    rb = RollbackView(id=1, state=state, trigger="manual", reason="error rate above 5%", started_at=BASE,
                      finished_at=BASE + 5 if ended else None,  # the banner shows a recent outcome
                      steps=steps if state != "idle" else ())
    return snapshot(4, rollback=rb)


Scene = Callable[[Pilot, FakeMonitor], Awaitable[None]]


def show(snap: Snapshot, mode: str | None = None) -> Scene:
    async def scene(pilot: Pilot, mon: FakeMonitor) -> None:
        if mode is not None and pilot.app.current_mode != mode:
            await pilot.app.switch_mode(mode)
        mon.publish(snap)

    return scene


def press(*keys: str) -> Scene:
    async def scene(pilot: Pilot, mon: FakeMonitor) -> None:
        await pilot.press(*keys)

    return scene


async def open_progress(pilot: Pilot, mon: FakeMonitor) -> None:
    await pilot.app.push_screen(RollbackProgressScreen())


# scene name -> what to do first; the scenes run in this order in one app.
SCENES: dict[str, Scene] = {
    **{f"header-{h}": show(replace(health_snapshot(h), alerts=()), "summary") for h in HEALTH},
    **{f"summary-{h}": show(health_snapshot(h), "summary") for h in HEALTH},
    "summary-paused": press("p"),
    "summary-resumed": press("p"),
    **{f"summary-rollback-{r}": show(rollback_snapshot(r)) for r in ROLLBACK},
    "detailed": show(health_snapshot("degraded"), "detailed"),
    "alerts": show(health_snapshot("degraded"), "alerts"),
    "alerts-filter": press("slash"),
    "alerts-filter-closed": press("escape"),
    "metrics": show(health_snapshot("degraded"), "metrics"),
    "help": press("question_mark"),
    "help-closed": press("escape"),
    "rollback-dialog": press("R"),
    "rollback-dialog-closed": press("escape"),
    "progress-open": open_progress,
    **{f"progress-{r}": show(rollback_snapshot(r)) for r in ROLLBACK},
}
TRANSITIONS = ("-closed", "-open", "-resumed")
"""Scenes that only lead to the next one."""


# -- running the app and reading the screen -------------------------------------------------


@dataclass
class Capture:
    screens: dict[str, dict[int, list[Cell]]] = field(default_factory=dict)
    """Scene -> every cell of the screen."""
    probes: dict[Probe, list[list[Cell]]] = field(default_factory=dict)
    """Probe -> the cells of each place its text was found."""


def probe_rows(app: WsmonApp, probe: Probe, cells: dict[int, list[Cell]]) -> list[int]:
    widgets = list(app.screen.query(probe.where))
    rows: list[int] = []
    for widget in widgets:
        region = visible_region(widget)
        if probe.row in ("cursor", "header"):
            assert isinstance(widget, DataTable)
            y = widget.region.y
            if probe.row == "cursor":
                header = widget.header_height if widget.show_header else 0
                y += header + widget.cursor_row - round(widget.scroll_y)
            rows += [y] if region.y <= y < region.bottom else []
        else:
            rows += range(region.y, region.bottom)
    if probe.row not in (None, "cursor", "header"):
        rows = [y for y in rows if probe.row in "".join(c.char for c in cells.get(y, []))]
    return rows


def locate(app: WsmonApp, probe: Probe, cells: dict[int, list[Cell]]) -> list[list[Cell]]:
    found: list[list[Cell]] = []
    for widget in app.screen.query(probe.where):
        region = visible_region(widget)
        for y in probe_rows(app, probe, cells):
            if region.y <= y < region.bottom:
                found += find(cells, Region(region.x, y, region.width, 1), probe.regex)
    return found


async def settle(pilot: Pilot, app: WsmonApp, probes: list[Probe]) -> dict[int, list[Cell]]:
    """Pause until every probe of the scene is drawn (at most 10 s); the screen as then drawn.

    The first look follows the scene's messages at once; only a scene not yet drawn waits
    (a little longer each time) and looks again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    wait = 0.0
    while True:
        await pilot.pause(wait or None)
        app.clear_notifications()  # a toast would cover the footer
        cells = screen_cells(app.screen)
        if all(locate(app, p, cells) for p in probes) or loop.time() > deadline:
            return cells
        wait = min(0.1, wait + 0.02)


def visible_rows(widget: Widget) -> tuple[int, int]:
    region = visible_region(widget)
    return region.y, region.bottom


async def run_scenes(theme: str, no_color: bool) -> Capture:
    capture = Capture()
    env = {"NO_COLOR": "1"} if no_color else {}
    with mock.patch.dict(os.environ, env):
        if not no_color:
            os.environ.pop("NO_COLOR", None)
        app, mon = make_app(theme=theme)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == theme
        assert app.no_color is no_color
        for name, scene in SCENES.items():
            await scene(pilot, mon)
            probes = [p for p in PROBES if p.scene == name]
            cells = await settle(pilot, app, probes)
            capture.screens[name] = cells
            for probe in probes:
                capture.probes[probe] = locate(app, probe, cells)
    return capture


@cache
def captured(theme: str, no_color: bool) -> Capture:
    return asyncio.run(run_scenes(theme, no_color))


# -- the tests ----------------------------------------------------------------------------------


def test_every_probe_has_a_scene():
    assert {p.scene for p in PROBES} <= set(SCENES)
    assert len({(p.state, p.scene) for p in PROBES}) == len(PROBES)


@pytest.mark.parametrize("depth", ALL_DEPTHS)
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.state)
@pytest.mark.parametrize("theme", THEMES)
def test_contrast(theme: str, probe: Probe, depth: str):
    no_color = depth == "no-color"
    drawn = captured(theme, no_color).probes[probe]
    assert drawn, f"{probe.state}: {probe.pattern!r} is not drawn in {probe.where} ({probe.scene} scene)"
    cells = [cell for match in drawn for cell in match]
    if no_color:
        coloured = [cell for cell in cells if has_colour(cell)]
        assert not coloured, f"{theme} × {probe.state}: colour written under NO_COLOR: {coloured[0]}"
        return
    ratio, what = min((cell_contrast(cell, depth) for cell in cells), key=lambda r: r[0])
    assert ratio >= MINIMUM, f"{theme} × {probe.state} × {depth}: {ratio:.2f}:1 < {MINIMUM}:1, {what}"


def has_colour(cell: Cell) -> bool:
    style = cell.style
    return style is not None and any(c is not None and not c.is_default for c in (style.color, style.bgcolor))


@pytest.mark.parametrize("scene", [s for s in SCENES if not s.endswith(TRANSITIONS)])
@pytest.mark.parametrize("theme", THEMES)
def test_every_cell_paints_its_background(theme: str, scene: str):
    """No cell is left in the terminal's own background (it may be anything: light, dark)."""
    cells = captured(theme, False).screens[scene]
    bare = [(x, y) for y, row in cells.items() for x, cell in enumerate(row)
            if cell.style is None or cell.style.bgcolor is None or cell.style.bgcolor.is_default]
    assert not bare, f"{theme}, {scene}: {len(bare)} cells without a background, first at {bare[:5]}"


def row_texts(cells: dict[int, list[Cell]]) -> list[str]:
    return ["".join(c.char for c in row) for row in cells.values()]


@pytest.mark.parametrize("theme", THEMES)
def test_no_color_tells_states_apart_by_words_and_style(theme: str):
    """Under NO_COLOR: no cell anywhere carries a colour; every alert's row and every
    target's row names its state in words; the cursor row is reversed (underlined while
    the table does not have focus)."""
    capture = captured(theme, True)
    for scene, cells in capture.screens.items():
        coloured = [(x, y) for y, row in cells.items() for x, cell in enumerate(row) if has_colour(cell)]
        assert not coloured, f"{scene}: colour under NO_COLOR at {coloured[:5]}"
    for state, (rule, shows) in ALERTS.items():
        mine = [r for r in row_texts(capture.screens["alerts"]) if rule in r]
        assert len(mine) == 1 and re.search(word(shows), mine[0]), f"alert {state}: {mine}"
    for health, name in TARGETS.items():
        mine = [r for r in row_texts(capture.screens["detailed"]) if name in r]
        assert len(mine) == 1 and re.search(word(health), mine[0]), f"target {health}: {mine}"
    cursor = next(p for p in PROBES if p.state == "cursor row (alerts)")
    other = next(p for p in PROBES if p.state == "alert resolved")
    blurred = next(p for p in PROBES if p.state == "cursor row unfocused")
    assert all(c.style and c.style.reverse for m in capture.probes[cursor] for c in m)
    assert not any(c.style and c.style.reverse for m in capture.probes[other] for c in m)
    assert all(c.style and c.style.underline for m in capture.probes[blurred] for c in m)


async def test_muted_text_is_a_plain_colour_in_themes_that_do_not_set_it(isolated_env):
    """A user's theme, and Textual's own, leave ``text-muted`` to Textual ("auto 60%"),
    which styled text drew black: a resolved alert must still be readable there."""
    user_dir = isolated_env / ".config" / "wsmon-tui" / "themes"
    user_dir.mkdir(parents=True)
    (user_dir / "mine.toml").write_text('name = "mine"\nprimary = "#88C0D0"\nbackground = "#101010"\n')
    resolved = next(p for p in PROBES if p.state == "alert resolved")
    for theme in ("mine", "textual-dark"):
        app, mon = make_app(theme=theme)
        async with app.run_test(size=SIZE) as pilot:
            assert app.theme == theme
            await SCENES["alerts"](pilot, mon)
            cells = await settle(pilot, app, [resolved])
            drawn = [c for m in locate(app, resolved, cells) for c in m]
            assert drawn
            ratio, what = min(cell_contrast(c, "truecolor") for c in drawn)
            assert ratio >= MINIMUM, f"{theme}: {what}"
