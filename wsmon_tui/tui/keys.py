"""A binding's keys after the user's ``[ui] keymap``: what the footer, the tab strip, a
pop-up's close hint and the read-only notice must name, so they never name a key that
does not work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.binding import Binding


def bound_keys(keymap: Mapping[str, str], binding: Binding) -> list[str]:
    """The keys of ``binding`` in order, after a remap of its id in ``keymap``."""
    keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
    return [k.strip() for k in keys.split(",") if k.strip()]


def shown_keys(app: Any, binding: Binding) -> list[str]:
    """``binding``'s keys after ``app``'s keymap, as the app displays them ("escape" -> "esc")."""
    keymap: Mapping[str, str] = getattr(app, "keymap", None) or {}
    return [app.get_key_display(Binding(k, binding.action)) for k in bound_keys(keymap, binding)]
