"""What every pop-up (a ModalScreen) shares: the key that closes it, said on its border.

A pop-up has no footer (the app's footer belongs to the view beneath), so each one says on
its bottom border how to leave it ("esc cancel", "esc close"), from its own binding after
any ``[ui] keymap`` remap, so the hint never names a key that does not work.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.screen import Screen

CLOSING_ACTIONS = frozenset({"dismiss", "cancel"})


def close_hint(screen: Screen[Any], what: str) -> str:
    """"esc close": the keys of ``screen``'s closing binding (``dismiss`` or ``cancel``), and
    ``what`` they do."""
    app = screen.app
    keymap = getattr(app, "keymap", {}) or {}
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.action in CLOSING_ACTIONS:
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            shown = [app.get_key_display(Binding(k.strip(), binding.action))
                     for k in keys.split(",") if k.strip()]
            return f"{' / '.join(shown[:2])} {what}"
    return ""
