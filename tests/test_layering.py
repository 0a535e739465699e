"""The engine never imports the UI: a subprocess imports every core module and checks."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import wsmon_tui

CORE_PREFIXES = ("wsmon_tui.config", "wsmon_tui.model", "wsmon_tui.engine", "wsmon_tui.alerts",
                 "wsmon_tui.rollback", "wsmon_tui.store", "wsmon_tui.report", "wsmon_tui.demo",
                 "wsmon_tui.durations", "wsmon_tui.levels", "wsmon_tui.paths", "wsmon_tui.errors",
                 "wsmon_tui.redact", "wsmon_tui.runtime", "wsmon_tui.sqlite_util", "wsmon_tui.config_check",
                 "wsmon_tui.config_template", "wsmon_tui.fmt", "wsmon_tui.backoff")


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(wsmon_tui.__path__, "wsmon_tui."):
        if info.name.startswith(CORE_PREFIXES):
            names.append(info.name)
    return sorted(names)


def test_core_modules_exist():
    names = core_modules()
    assert "wsmon_tui.engine.monitor" in names
    assert "wsmon_tui.config" in names


def test_core_never_imports_textual_or_rich():
    code = (
        "import importlib, json, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
