"""Tables a k9s user can drive, and worst first everywhere.

The detailed and alerts tables (``widgets/table.py``): ``/`` filters without firing other
bindings, filters match any visible column, ``o`` / ``O`` and a header click sort, names
fit, and the last error shows what a real failing server did. The summary
(``widgets/target_board.py``): targets worst first, the healthy folded when space is
short, the panels on screen at 80x24, 120x40 and 160x48. Fed the 30-target ``fleet()``.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.widgets import DataTable, Input, Static

from tests import hostile
from tests.test_tui_app import feed, make_app, until
from tests.test_tui_views import screen_text
from tests.tui_fixtures import FAILING, alert, fleet, sequence
from wsmon_tui.config import Config, DeploymentConfig, MonitorConfig, ResourcesConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.tui.screens.ack import AckScreen
from wsmon_tui.tui.screens.theme_picker import ThemePicker
from wsmon_tui.tui.widgets.card_grid import columns_at
from wsmon_tui.tui.widgets.table import Row, SortFilterTable, arrange, natural
from wsmon_tui.tui.widgets.target_board import TargetBoard, plan
from wsmon_tui.tui.widgets.target_card import FoldedCard, TargetCard

DOWN = sorted(n for n, (status, *_) in FAILING.items() if status == "critical")
DEGRADED = sorted(n for n, (status, *_) in FAILING.items() if status == "degraded")
TABLE = {"detailed": "#targets-table", "alerts": "#alerts-table"}


async def fed(pilot, mon, snaps=None) -> None:
    """The 30-target fleet unless told otherwise."""
    await feed(pilot, mon, snaps or [fleet(1), fleet(2)])


def keys(table: DataTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def column(table: DataTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_column(key)]


# -- the filter -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["detailed", "alerts"])
async def test_typing_a_filter_keeps_focus_and_fires_no_other_binding(mode):
    """`critical` holds r (refresh), t (theme), a (acknowledge): typed into the filter, none fires."""
    app, mon = make_app(mode=mode)
    async with app.run_test(size=(120, 40)) as pilot:
        await fed(pilot, mon)
        theme = app.theme
        table = app.screen.query_one(TABLE[mode], DataTable)
        assert table.row_count == (30 if mode == "detailed" else 4)
        await pilot.press("slash", *"critical")
        await pilot.pause(0.1)
        box = app.focused
        assert isinstance(box, Input) and box.value == "critical"
        assert app.current_mode == mode and not isinstance(app.screen, ThemePicker | AckScreen)
        assert mon.refreshes == 0 and mon.calls == [] and app.theme == theme
        if mode == "detailed":
            assert sorted(keys(table)) == DOWN
        else:
            assert sorted(k.split(":")[1].split("@")[0] for k in keys(table)) == DOWN
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.focused is table and table.row_count == 4 and box.display
        await pilot.press("escape")  # clears it
        await pilot.pause()
        assert app.focused is table and table.row_count == (30 if mode == "detailed" else 4)
        assert not box.value


@pytest.mark.parametrize(("needle", "expected"), [
    ("503", ["chat-ws-eu-west-1"]),  # the last-error column
    ("REFUSED", ["notify-ws-us-west-2"]),  # case-insensitive
    ("degraded", DEGRADED),  # the status column
    ("critical 1011", ["market-feed-ap-south-1"]),  # every word, in any column
    ("us-west-2", ["chat-ws-us-west-2", "edge-gw-us-west-2", "market-feed-us-west-2",
                   "notify-ws-us-west-2", "presence-ws-us-west-2"]),
])
async def test_the_filter_matches_any_visible_column(needle, expected):
    app, mon = make_app(mode="detailed")
    async with app.run_test(size=(120, 40)) as pilot:
        await fed(pilot, mon)
        table = app.screen.query_one("#targets-table", DataTable)
        await pilot.press("slash", *needle)
        await pilot.pause()
        assert sorted(keys(table)) == sorted(expected)
        mon.publish(fleet(3))  # a new snapshot keeps the filter
        await pilot.pause(0.12)
        assert sorted(keys(table)) == sorted(expected)


# -- the sort ---------------------------------------------------------------------------------


def header_x(table: DataTable, key: str) -> int:
    """Where to click a column's header: inside its label."""
    x = 0
    for col in table.ordered_columns:
        if col.key.value == key:
            return x + 2
        x += col.get_render_width(table)
    raise AssertionError(key)


async def test_a_header_click_sorts_by_that_column_and_again_reverses():
    app, mon = make_app(mode="detailed")
    async with app.run_test(size=(120, 40)) as pilot:
        await fed(pilot, mon)
        table = app.screen.query_one("#targets-table", DataTable)
        table.move_cursor(row=keys(table).index("edge-gw-us-east-1"))
        await pilot.click("#targets-table", offset=(header_x(table, "hs_p95"), 0))
        await pilot.pause()
        hs = column(table, "hs_p95")
        present = [float(v.split()[0]) for v in hs if v != "—"]
        assert present == sorted(present) and hs[-len(DOWN):] == ["—"] * len(DOWN)  # no value: last
        assert str(table.ordered_columns[3].label) == "HS p95 ▲"
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "edge-gw-us-east-1"
        await pilot.click("#targets-table", offset=(header_x(table, "hs_p95"), 0))
        await pilot.pause()
        hs = column(table, "hs_p95")
        present = [float(v.split()[0]) for v in hs if v != "—"]
        assert present == sorted(present, reverse=True) and hs[-len(DOWN):] == ["—"] * len(DOWN)
        assert str(table.ordered_columns[3].label) == "HS p95 ▼"
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "edge-gw-us-east-1"


async def test_o_cycles_the_sort_column_and_O_reverses():
    app, mon = make_app(mode="detailed")
    async with app.run_test(size=(120, 40)) as pilot:
        await fed(pilot, mon)
        table = app.screen.query_one("#targets-table", DataTable)
        worst_first = keys(table)
        await pilot.press("o")  # by name
        assert keys(table) == sorted(worst_first)
        await pilot.press("O")
        assert keys(table) == sorted(worst_first, reverse=True)
        await pilot.press("o", "o")  # status, then success: the down ones (0%) first
        assert app.screen.query_one(SortFilterTable).sort_by == "success"
        assert sorted(keys(table)[:4]) == DOWN and sorted(keys(table)[4:6]) == DEGRADED
        for _ in range(len(table.ordered_columns) - 2):  # past the last column: worst first again
            await pilot.press("o")
        assert app.screen.query_one(SortFilterTable).sort_by is None and keys(table) == worst_first


async def test_sorting_the_alerts_keeps_the_selected_alert():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=(120, 40)) as pilot:
        await fed(pilot, mon, sequence())
        table = app.screen.query_one("#alerts-table", DataTable)
        slow = next(k for k in keys(table) if k.startswith("SlowHandshake:api-eu@"))  # rows are episodes
        table.move_cursor(row=keys(table).index(slow))
        await pilot.click("#alerts-table", offset=(header_x(table, "rule"), 0))
        await pilot.pause()
        assert column(table, "rule") == ["HighErrorRate", "QueueDepth", "SlowHandshake"]
        assert app.screen.selected_alert().episode == slow


def test_arrange_sorts_naturally_keeps_ties_in_order_and_puts_missing_last():
    rows = [Row("a", {"n": "api-10", "v": "—"}), Row("b", {"n": "api-2", "v": "9.5 ms"}),
            Row("c", {"n": "api-1", "v": "12.0 ms"}), Row("d", {"n": "api-2", "v": "9.5 ms"})]
    assert [r.key for r in arrange(rows, sort_by="n")] == ["c", "b", "d", "a"]
    assert [r.key for r in arrange(rows, sort_by="v")] == ["b", "d", "c", "a"]
    assert [r.key for r in arrange(rows, sort_by="v", reverse=True)] == ["c", "b", "d", "a"]
    assert [r.key for r in arrange(rows, "API-2")] == ["b", "d"]
    typed = [Row("x", {"s": "1m 05s"}, sort={"s": 65.0}), Row("y", {"s": "45s"}, sort={"s": 45.0})]
    assert [r.key for r in arrange(typed, sort_by="s")] == ["y", "x"]
    assert natural("api-10") > natural("api-9")


# -- names and the last error ----------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_real_names_show_whole_and_the_columns_that_matter_come_first(size):
    app, mon = make_app(mode="detailed")
    async with app.run_test(size=size) as pilot:
        await fed(pilot, mon)
        await pilot.pause(0.1)
        text = screen_text(app)
        header = next(line for line in text.splitlines() if "Target" in line)
        for label in ("Status", "Success", "HS p95", "RTT p95", "Last error"):
            assert label in header, (label, header)
        assert "notify-ws-us-west-2 " in text  # 19 characters, cut at 16 before
        assert "presence-ws-us-east-1 " in text
        if size[0] >= 120:
            assert "presence-ws-ap-northeast-1 " in text  # the longest, whole
        table = app.screen.query_one("#targets-table", DataTable)
        assert column(table, "last_error")[:4] == ["503", "1011", "refused", "timeout"]


async def test_at_80_columns_the_alerts_table_gives_a_name_the_room_the_essentials_leave():
    """Severity, Rule, State and Value / Threshold are as wide as their text, so a 19-character
    target name is whole at 80 columns (it was cut at 12 behind a fixed 27-column value)."""
    alerts = (alert("TargetDown", "notify-ws-us-west-2", "critical", "firing"),
              alert("SlowHandshake", "chat-ws-eu-west-1", "warning", "firing"),
              alert("HighErrorRate", "presence-ws-ap-northeast-1", "critical", "firing"))
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=(80, 24)) as pilot:
        await fed(pilot, mon, [fleet(1, alerts=alerts), fleet(2, alerts=alerts)])
        await pilot.pause(0.1)
        text = screen_text(app)
        header = next(line for line in text.splitlines() if "Target" in line)
        for label in ("Severity", "Rule", "State", "Value / Threshold"):
            assert label in header, (label, header)
        assert "notify-ws-us-west-2 " in text
        assert any("presence-ws-" in line and "…" in line for line in text.splitlines())  # 26: cut


@pytest.mark.slow
async def test_last_error_of_real_failing_servers():
    """A real engine probes a closed port, a 503, a 1011 close, a silent server and an echo."""
    async with hostile.refused_url() as refused, hostile.http_status_server(503) as unavailable, \
            hostile.close_after_accept_server(1011, "internal error") as closing, \
            hostile.silent_tcp_server() as silent, hostile.echo_server() as echo:
        config = Config()
        config.monitor = MonitorConfig(interval=0.5)
        config.deployment = DeploymentConfig(name="hostile-fleet", version="1.0")
        config.resources = ResourcesConfig(host=False)
        urls = {"refused-port": refused, "unavailable-503": unavailable, "closing-1011": closing,
                "silent-timeout": silent, "echo-ok": echo}
        config.targets = [TargetConfig(name=n, url=u, send="ping {nonce}", expect="ping", timeout=0.6)
                          for n, u in urls.items()]
        monitor = Monitor(config, None)
        from wsmon_tui.tui.app import WsmonApp

        app = WsmonApp(monitor, refresh=0.1, mode="detailed")
        async with app.run_test(size=(120, 40)) as pilot:
            def probed() -> bool:
                snap = app.latest
                return snap is not None and all(t.last_probe is not None for t in snap.targets)

            await until(pilot, probed, timeout=15)
            await pilot.pause(0.3)
            table = app.screen.query_one("#targets-table", DataTable)
            cells = {k: str(table.get_cell(k, "last_error")) for k in keys(table)}
            assert cells == {"refused-port": "refused", "unavailable-503": "503", "closing-1011": "1011",
                             "silent-timeout": "timeout", "echo-ok": "—"}
            assert keys(table)[-1] == "echo-ok"  # the healthy one last
            await pilot.press("q")
            await asyncio.sleep(0)


# -- the summary -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 48)])
async def test_summary_panels_stay_on_screen_and_targets_come_worst_first(size):
    app, mon = make_app()
    async with app.run_test(size=size) as pilot:
        await fed(pilot, mon)
        await pilot.pause(0.1)
        width, height = size
        for panel in ("#alerts-panel", "#rollout-panel", "#resources-panel"):
            region = app.screen.query_one(panel).region
            assert region.height > 2 and region.y >= 2 and region.bottom <= height - 1, (panel, region)
            assert region.right <= width
        board = app.screen.query_one(TargetBoard)
        assert board.plan is not None
        shown = [t.name for t in board.plan.shown]
        assert sorted(shown[:4]) == DOWN and sorted(shown[4:6]) == DEGRADED
        assert len(board.plan.folded) == 24 and all(t.status == "healthy" for t in board.plan.folded)
        text = screen_text(app)
        assert "24 healthy" in text
        assert text.index("chat-ws-eu-west-1") < text.index("edge-gw-eu-central-1")
        assert board.region.bottom <= height - 1
        if height >= 40:
            cards = board.cards()
            assert [type(c) for c in cards] == [TargetCard] * 6 + [FoldedCard]
            assert all(c.region.bottom <= height - 1 for c in cards)


async def test_summary_with_room_shows_a_card_per_target_worst_first():
    app, mon = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await fed(pilot, mon, sequence())
        cards = app.screen.query_one(TargetBoard).cards()
        assert [c.view.name for c in cards if isinstance(c, TargetCard)] == ["api-us", "api-eu"]


async def test_a_card_shows_each_new_snapshot_and_keeps_its_place():
    """The cards are drawn by one widget, each line redrawn only when it draws differently:
    a new value, a status (the badge and the border), still reach the screen."""
    app, mon = make_app(refresh=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        snaps = sequence()
        await feed(pilot, mon, snaps[:2])
        board = app.screen.query_one(TargetBoard)
        before = [c.region for c in board.cards()]
        last = snaps[1]
        us = next(t for t in last.targets if t.name == "api-us")
        changed = dataclasses.replace(us, probes=99, status="critical")
        mon.publish(dataclasses.replace(last, targets=tuple(changed if t is us else t for t in last.targets)))
        await until(pilot, lambda: "probes 99" in screen_text(app))
        cards = board.cards()
        assert [c.region for c in cards] == before
        assert "CRITICAL" in screen_text(app)
        card = next(c for c in cards if isinstance(c, TargetCard) and c.view.name == "api-us")
        assert card.border == "critical"


@pytest.mark.parametrize(("width", "columns"),
                         [(120, 3), (119, 3), (160, 4), (158, 4), (81, 2), (97, 2), (40, 1)])
async def test_the_card_grid_puts_each_card_where_a_textual_grid_would(width: int, columns: int) -> None:
    """``CardGrid`` draws every card itself: in the columns a Grid (``grid-gutter: 0 1``) of
    card widgets gave them, so the board looks as it did."""

    class GridOfCards(App[None]):
        CSS = f"Grid {{ grid-size: {columns}; grid-gutter: 0 1; grid-rows: 7; height: 7; }}"

        def compose(self) -> ComposeResult:
            with Grid():
                yield from (Static(f"card {i}") for i in range(columns))

    app = GridOfCards()
    async with app.run_test(size=(width, 10)):
        placed = [(w.region.x, w.region.width) for w in app.query(Static)]
    assert placed == list(columns_at(width, columns))


def test_plan_folds_healthy_then_falls_back_to_lines():
    targets = fleet().targets
    everything = plan(targets, 160, 7 * 8)  # 4 x 8 cards
    assert len(everything.shown) == 30 and not everything.folded and not everything.lines
    folded = plan(targets, 120, 7 * 3)  # 3 x 3 cards: six unhealthy and the folded card
    assert len(folded.shown) == 6 and len(folded.folded) == 24 and not folded.lines
    lines = plan(targets, 80, 7)  # two cards: a line each instead
    assert lines.lines and len(lines.shown) == 6 and len(lines.folded) == 24
    tight = plan(targets, 80, 4)  # four lines: three targets and "… 27 more"
    assert [t.name for t in tight.shown] == ["chat-ws-eu-west-1", "market-feed-ap-south-1",
                                             "notify-ws-us-west-2"]
    assert len(tight.folded) == 27
