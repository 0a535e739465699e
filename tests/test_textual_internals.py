"""The TUI uses only Textual's public API, so a Textual upgrade cannot break it silently.

Textual's private names (``_`` modules, attributes and methods) change between minor
versions without notice. These checks fail when one creeps back in: imported, read on
another object, or read, set or overridden through ``self`` in a subclass of a Textual
class (where it would also shadow Textual's own attribute of that name).

One exception, with its reason measured in its module's docstring: ``tui/driver.py`` runs
Textual's input loop with a blocking ``select`` and so imports Textual's ``XTermParser``.
``test_the_input_loop_we_copied_is_textuals`` fails when Textual changes that loop or the
parser's interface, so the copy is compared again on every upgrade.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import wsmon_tui.tui

TUI = Path(wsmon_tui.tui.__file__).parent
SELF_PRIVATE = re.compile(r"\bself\.(_[A-Za-z]\w*)")
SELF_PRIVATE_BY_NAME = re.compile(r"\b(?:get|set|has|del)attr\(\s*self\s*,\s*[\"'](_[A-Za-z]\w*)[\"']")
DEF_PRIVATE = re.compile(r"\bdef (_[A-Za-z]\w*)")
NOT_TEXTUAL = {("os", "_exit")}
"""``x._name`` reads that are allowed because ``x`` is not Textual's."""
ALLOWED_IMPORTS = {("driver.py", "textual._xterm_parser"), ("driver.py", "textual._xterm_parser.XTermParser")}
"""The one private module the TUI imports, and where (see ``tui/driver.py``)."""
TEXTUAL_INPUT_LOOP = "790b04c744be48863358bea442ee4168cdaf98ef32309936ac798ba86aba47a0"
"""SHA-256 of Textual 8.2's ``LinuxDriver.run_input_thread`` and ``disable_input`` source,
the code ``tui/driver.py``'s input loop was copied from."""


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(TUI.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_no_private_textual_module_is_imported():
    found = []
    for path, tree in sources():
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names += [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "textual" and any(private(p) for p in parts) and \
                        (str(path.relative_to(TUI)), name) not in ALLOWED_IMPORTS:
                    found.append(f"{path.relative_to(TUI)}:{node.lineno} {name}")
    assert not found, f"private Textual modules imported: {found}"


def test_no_private_attribute_is_read_on_another_object():
    """``app._driver``, ``screen._on_timer_update()``: only our own objects' through ``self``."""
    found = []
    for path, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and private(node.attr):
                value, attr = node.value, node.attr
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1 and \
                    isinstance(node.args[1], ast.Constant) and private(str(node.args[1].value)):
                value, attr = node.args[0], str(node.args[1].value)
            else:
                continue
            owner = value.id if isinstance(value, ast.Name) else None
            if owner in ("self", "cls") or (owner, attr) in NOT_TEXTUAL:
                continue
            found.append(f"{path.relative_to(TUI)}:{node.lineno} {ast.unparse(node)}")
    assert not found, f"private attributes of other objects: {found}"


def textual_private_names(cls: type) -> set[str]:
    """Private names Textual's classes in ``cls``'s MRO define or set on ``self``."""
    names: set[str] = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("textual"):
            continue
        names.update(n for n in vars(base) if private(n))
        try:
            names.update(SELF_PRIVATE.findall(inspect.getsource(base)))
        except (OSError, TypeError):
            pass
    return names


def our_textual_subclasses() -> Iterator[type]:
    for info in pkgutil.walk_packages([str(TUI)], "wsmon_tui.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and \
                    any(b.__module__.startswith("textual") for b in cls.__mro__[1:]):
                yield cls


def test_our_subclasses_use_no_private_name_of_textuals():
    """``self._keymap`` in the app, ``_update_timer`` overridden on a screen: each is a
    private name of a Textual base class, read, replaced or shadowed through ``self``."""
    subclasses = list(our_textual_subclasses())
    assert len(subclasses) > 10  # the app, the screens, the widgets, the driver
    found = {}
    for cls in subclasses:
        source = inspect.getsource(cls)
        ours = {*SELF_PRIVATE.findall(source), *SELF_PRIVATE_BY_NAME.findall(source),
                *DEF_PRIVATE.findall(source)}
        clash = ours & textual_private_names(cls)
        if clash:
            found[f"{cls.__module__}.{cls.__qualname__}"] = sorted(clash)
    assert not found, f"private names of Textual's base classes used: {found}"


def test_the_checks_see_a_private_name():
    """The checks themselves: Textual's App does keep private names the app could touch."""
    from textual.app import App

    from wsmon_tui.tui.app import WsmonApp

    names = textual_private_names(WsmonApp)
    assert {"_keymap", "_driver", "_handle_exception"} <= names
    assert "_keymap" in textual_private_names(App)


def test_the_input_loop_we_copied_is_textuals():
    """``tui/driver.py`` runs Textual's input loop with one change (it blocks in ``select``
    once input is quiet). When Textual's loop, its ``disable_input`` or its parser's interface
    changes, this fails: compare ``WsmonLinuxDriver.run_input_thread`` with the new code,
    carry any fix over, and pin the new source's hash."""
    from textual._xterm_parser import XTermParser
    from textual.drivers.linux_driver import LinuxDriver

    source = inspect.getsource(LinuxDriver.run_input_thread) + inspect.getsource(LinuxDriver.disable_input)
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == TEXTUAL_INPUT_LOOP, (
        "Textual changed LinuxDriver.run_input_thread or disable_input: compare "
        f"wsmon_tui/tui/driver.py with it, then set TEXTUAL_INPUT_LOOP = {digest!r}")
    assert list(inspect.signature(XTermParser).parameters) == ["debug"]
    parser = XTermParser(False)
    keys = [*parser.feed("q\x1b[A")]
    assert [getattr(k, "key", None) for k in keys] == ["q", "up"]
    assert [*parser.tick()] == []
