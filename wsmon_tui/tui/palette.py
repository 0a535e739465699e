"""The command palette (Ctrl+P): views, acknowledge, silence, export, rollback, themes.

Separate from the app: a Textual command provider is its own class, and the list of what
the palette offers reads better apart from the app's lifecycle and painting.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class WsmonCommands(Provider):
    """Ctrl+P: views, acknowledge, silence, export, rollback, themes and the rest."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from wsmon_tui.tui.app import MODE_ORDER, WsmonApp

        app = self.app
        assert isinstance(app, WsmonApp)
        cmds: list[tuple[str, str, Callable[[], Any]]] = [
            (f"View: {mode.title()}", f"Show the {mode} view", partial(app.switch_mode, mode))
            for mode in MODE_ORDER
        ]
        cmds += [
            ("Acknowledge the selected alert", "Alerts view: acknowledge with a comment",
             app.action_acknowledge),
            ("Silence the selected alert", "Alerts view: silence its rule for a while", app.action_silence),
            ("Export a Markdown report", "Write the session report to the state dir", app.action_export),
            ("Roll back the deployment", "Open the rollback confirmation", app.action_rollback),
            ("Pause or resume repainting", "The engine keeps running", app.action_pause),
            ("Refresh now", "Take a snapshot now", app.action_refresh),
            ("Keys", "Every binding", app.action_help),
        ]
        if app.read_only:
            cmds = [c for c in cmds if c[2] not in (app.action_acknowledge, app.action_silence,
                                                    app.action_rollback)]
        cmds += [(f"Theme: {name}", "Switch the colour theme", partial(app.set_theme, name))
                 for name in app.theme_names()]
        return cmds

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
