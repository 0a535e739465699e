"""The package's layering holds: import-linter checks the contracts in pyproject.toml.

The contracts (``[tool.importlinter]``) put the faces (tui, live, commands, cli) on top, then host and
runtime, the engine, report, alerts/rollback/demo, seam, store/config, the shared leaves and the model;
and forbid textual, textual_serve, rich and plotext anywhere below the faces, including imports inside
functions. The subprocess check below adds what a static graph cannot see: nothing below the faces
loads a UI library at import time by any route (``importlib``, a plugin, a dependency's side effect).
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import wsmon_tui

ROOT = Path(__file__).resolve().parent.parent
FACES = ("wsmon_tui.tui", "wsmon_tui.live", "wsmon_tui.serve_guard", "wsmon_tui.commands", "wsmon_tui.cli",
         "wsmon_tui.__main__")
UI_PACKAGES = ("textual", "textual_serve", "rich", "plotext")


def _env() -> dict[str, str]:
    # Analyse this checkout's package, not whatever an editable install elsewhere points at.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} missing: install the test extra (pip install -e '.[test]')"
    proc = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"lint-imports failed (exit {proc.returncode}):\n{output}"
    assert "0 broken" in output, output


def core_modules() -> list[str]:
    """Every module below the faces."""
    names = []
    for info in pkgutil.walk_packages(wsmon_tui.__path__, "wsmon_tui."):
        if not any(info.name == face or info.name.startswith(face + ".") for face in FACES):
            names.append(info.name)
    return sorted(names)


def test_core_modules_found():
    names = core_modules()
    assert "wsmon_tui.engine.monitor" in names
    assert "wsmon_tui.config" in names
    assert not any(name.startswith("wsmon_tui.tui") for name in names)


def test_importing_the_core_loads_no_ui_library():
    # httpx's __init__ imports its optional command line (httpx._main: click, rich, pygments) whenever
    # click is installed, and import-linter brings click into the test environment. That is httpx's
    # side effect, not an import of ours: block just that module so the check still sees every other route.
    code = (
        "import importlib, json, sys\n"
        "sys.modules['httpx._main'] = None\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {UI_PACKAGES!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
