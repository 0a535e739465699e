"""Themes as data, and the dashboard command's flag checks (before anything starts)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.test_tui_app import make_app
from tests.tui_fixtures import FakeMonitor, sequence
from wsmon_tui.cli import main
from wsmon_tui.commands.dashboard_cmd import check_theme, parse_refresh
from wsmon_tui.errors import UsageError
from wsmon_tui.tui.themes import (
    DEFAULT_THEME,
    ThemeFileError,
    builtin_dirs,
    choose,
    load_themes,
    theme_from_mapping,
)

REPO_THEMES = Path(__file__).resolve().parents[1] / "themes"


def test_builtin_themes_validate():
    themes = load_themes(include_user=False)
    assert themes.problems == []
    assert {"wsmon-dark", "wsmon-light", "wsmon-high-contrast"} <= set(themes.names())
    assert themes.themes["wsmon-light"].dark is False
    assert builtin_dirs()[0] == REPO_THEMES


def test_user_theme_is_added_and_a_broken_one_is_reported(isolated_env):
    user_dir = isolated_env / ".config" / "wsmon-tui" / "themes"
    user_dir.mkdir(parents=True)
    (user_dir / "mine.toml").write_text('name = "mine"\nprimary = "#ff00ff"\ndark = false\n')
    (user_dir / "bad.toml").write_text('name = "bad"\nprimary = "not-a-colour"\n')
    (user_dir / "typo.toml").write_text('name = "typo"\nprimray = "#000000"\n')
    (user_dir / "broken.toml").write_text('name = "broken\n')
    themes = load_themes()
    assert "mine" in themes.names() and "bad" not in themes.names()
    problems = "\n".join(themes.problems)
    assert "bad.toml: primary: 'not-a-colour' is not a colour" in problems
    assert "typo.toml: unknown key 'primray'" in problems
    assert "broken.toml: not valid TOML" in problems


@pytest.mark.parametrize(("data", "message"), [
    ({"primary": "#fff"}, "missing key 'name'"),
    ({"name": "x"}, "missing key 'primary'"),
    ({"name": "x", "primary": "#fff", "dark": "yes"}, "dark: expected true or false"),
    ({"name": "x", "primary": 3}, "primary: expected a colour string"),
    ({"name": "x", "primary": "#fff", "variables": {"a": 1}}, "variables: expected a table of strings"),
])
def test_theme_validation_names_the_key(data, message):
    with pytest.raises(ThemeFileError, match=message):
        theme_from_mapping(data, "f.toml")


def test_choose_falls_back_and_says_so():
    themes = load_themes(include_user=False)
    assert choose(themes, "wsmon-light") == ("wsmon-light", None)
    name, problem = choose(themes, "nope")
    assert name == DEFAULT_THEME and "nope" in problem


def test_missing_theme_dir_still_gives_the_default(tmp_path):
    themes = load_themes([tmp_path / "none"], include_user=False)
    assert themes.names() == [DEFAULT_THEME]


async def test_app_falls_back_from_an_unknown_theme_and_says_so():
    app, mon = make_app(theme="no-such-theme")
    async with app.run_test(size=(100, 30)) as pilot:
        mon.publish(sequence()[0])
        await pilot.pause(0.1)
        assert app.theme == DEFAULT_THEME
        assert any("no-such-theme" in str(n.message) for n in app._notifications)


async def test_app_uses_the_config_theme():
    mon = FakeMonitor()
    mon.config.ui.theme = "wsmon-high-contrast"
    app, _ = make_app(mon)
    async with app.run_test(size=(100, 30)):
        assert app.theme == "wsmon-high-contrast"


def test_check_theme_lists_names():
    check_theme("wsmon-light")
    check_theme("textual-dark")
    with pytest.raises(UsageError, match=r"unknown theme 'zzz'; available: .*wsmon-dark.*wsmon-light"):
        check_theme("zzz")


@pytest.mark.parametrize(("value", "expected"), [("0.5", 0.5), ("2s", 2.0), ("1", 1.0), (None, None)])
def test_parse_refresh(value, expected):
    assert parse_refresh(value) == expected


@pytest.mark.parametrize("value", ["0", "abc", "-1"])
def test_parse_refresh_rejects(value):
    with pytest.raises(UsageError, match="--refresh"):
        parse_refresh(value)


def test_unknown_theme_exits_2_before_starting_anything(capsys, isolated_env, monkeypatch):
    import wsmon_tui.commands as commands
    from wsmon_tui.commands import dashboard_cmd

    monkeypatch.setitem(commands.HANDLERS, "dashboard", dashboard_cmd.run)
    rc = main(["--theme", "zzz", "--demo"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown theme 'zzz'" in err and "wsmon-high-contrast" in err
    assert not (isolated_env / ".local" / "state" / "wsmon-tui").exists()  # no state dir, no demo


def test_dashboard_run_checks_refresh_first(isolated_env):
    from wsmon_tui.commands import dashboard_cmd

    args = argparse.Namespace(refresh="fast", theme=None, duration=None, demo=True)
    with pytest.raises(UsageError, match="--refresh"):
        dashboard_cmd.run(args)
    assert not (isolated_env / ".local" / "state" / "wsmon-tui").exists()


async def test_a_textual_theme_chosen_at_run_time_gets_a_solid_muted_colour():
    """Textual's own themes get a plain ``text-muted`` when first used, not only at start
    (the palette switches themes while the app runs)."""
    app, _ = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme != "nord"
        app.theme = "nord"
        await pilot.pause()
        muted = app.get_css_variables()["text-muted"]
        assert muted.startswith("#") and "auto" not in muted, muted
        assert app.current_theme.variables["text-muted"] == muted
        assert app.get_theme("nord") is app.get_theme("nord")  # worked out once
