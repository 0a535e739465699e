"""Themes are data: ``themes/*.toml`` validated into ``textual.theme.Theme`` objects.

Built-in themes ship in the repository's top-level ``themes/`` directory (and, once
installed, in the wheel's shared data); users add their own in
``$XDG_CONFIG_HOME/wsmon-tui/themes/``. A file that does not validate is skipped with a
message naming the file and the key, and the app falls back to ``wsmon-dark``.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from wsmon_tui.paths import xdg_config_home

DEFAULT_THEME = "wsmon-dark"
COLOR_KEYS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground",
              "background", "surface", "panel", "boost")
OTHER_KEYS = ("name", "dark", "luminosity_spread", "text_alpha", "variables")
REQUIRED = ("name", "primary")

#: Used when no theme file at all can be read: the app must still start (themes/wsmon-dark.toml).
FALLBACK = Theme(name=DEFAULT_THEME, primary="#5FB3FF", secondary="#7AA2C8", accent="#FFB86C",
                 success="#50C878", warning="#F0C040", error="#FF5C5C", foreground="#DDE3EA",
                 background="#10151B", surface="#18202A", panel="#23272E", dark=True,
                 variables={"text-muted": "#9AA5B1", "block-cursor-foreground": "#0B1016",
                            "block-cursor-blurred-background": "#16273C",
                            "block-cursor-blurred-foreground": "#5FB3FF"})
MUTED_WEIGHT = 0.7
"""How far from the background towards the foreground muted text sits, when a theme does
not choose its own ``text-muted``."""


class ThemeFileError(ValueError):
    """A theme file that does not validate; the message names the file and the key."""


@dataclass
class ThemeSet:
    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """One line per skipped file, for a notification."""

    def names(self) -> list[str]:
        return sorted(self.themes)


def builtin_dirs() -> list[Path]:
    """Where the shipped themes may be: a source checkout, then an installed wheel's data."""
    here = Path(__file__).resolve()
    return [
        here.parents[2] / "themes",
        here.parent / "themes",
        Path(sys.prefix) / "share" / "wsmon-tui" / "themes",
    ]


def user_dir() -> Path:
    return xdg_config_home() / "wsmon-tui" / "themes"


def theme_from_mapping(data: dict[str, object], source: str) -> Theme:
    """Validate one theme table; raise ThemeFileError naming ``source`` and the key."""
    unknown = sorted(set(data) - set(COLOR_KEYS) - set(OTHER_KEYS))
    if unknown:
        raise ThemeFileError(f"{source}: unknown key {unknown[0]!r} "
                             f"(expected one of {', '.join(COLOR_KEYS + OTHER_KEYS)})")
    for key in REQUIRED:
        if key not in data:
            raise ThemeFileError(f"{source}: missing key {key!r}")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{source}: name: expected a non-empty string")
    colors: dict[str, str] = {}
    for key in COLOR_KEYS:
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, str):
            raise ThemeFileError(f"{source}: {key}: expected a colour string, got {type(value).__name__}")
        try:
            Color.parse(value)
        except ColorParseError:
            raise ThemeFileError(f"{source}: {key}: {value!r} is not a colour") from None
        colors[key] = value
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{source}: dark: expected true or false")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise ThemeFileError(f"{source}: variables: expected a table of strings")
    extra: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ThemeFileError(f"{source}: {key}: expected a number")
            extra[key] = float(value)
    return Theme(name=name.strip(), dark=dark, variables=dict(variables), **colors, **extra)  # type: ignore[arg-type]


def with_solid_muted(theme: Theme) -> Theme:
    """``theme``, with ``text-muted`` a plain colour when the theme does not set one.

    Textual's default ``text-muted`` is "auto 60%": a colour worked out against whatever is
    behind the text. In styled text (``Content`` spans: table cells, the header) it is not
    worked out, and came out black, so a resolved alert in a dark table was black on
    black. A plain colour, the background blended towards the foreground, is the same
    everywhere. Themes whose colours are the terminal's own ANSI ones are left alone.
    """
    if "text-muted" in theme.variables:
        return theme
    colors = theme.to_color_system().generate()
    try:
        foreground = Color.parse(colors["foreground"])
        background = Color.parse(colors["background"])
    except (KeyError, ColorParseError):
        return theme
    if foreground.ansi is not None or background.ansi is not None:
        return theme
    muted = background.blend(foreground, MUTED_WEIGHT, alpha=1.0)
    return replace(theme, variables={**theme.variables, "text-muted": muted.hex})


def load_theme_file(path: Path) -> Theme:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ThemeFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return with_solid_muted(theme_from_mapping(data, str(path)))


def load_themes(dirs: list[Path] | None = None, *, include_user: bool = True) -> ThemeSet:
    """Every valid theme: built-ins first, then the user's (a user theme may replace one)."""
    result = ThemeSet()
    search = list(dirs) if dirs is not None else builtin_dirs()
    if include_user:
        search.append(user_dir())
    seen_builtin = False
    for directory in search:
        if not directory.is_dir():
            continue
        is_user = include_user and directory == search[-1]
        if not is_user:
            if seen_builtin:
                continue  # the first built-in location found wins
            seen_builtin = True
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                result.problems.append(str(exc))
                continue
            result.themes[theme.name] = theme
    if DEFAULT_THEME not in result.themes:
        result.themes[DEFAULT_THEME] = FALLBACK
    return result


def choose(themes: ThemeSet, wanted: str | None) -> tuple[str, str | None]:
    """The theme to use and, when ``wanted`` is not available, a message saying so."""
    if not wanted or wanted in themes.themes:
        return wanted or DEFAULT_THEME, None
    return DEFAULT_THEME, f"theme {wanted!r} is not available; using {DEFAULT_THEME}"
