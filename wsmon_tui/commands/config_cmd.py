"""``wsmon-tui config check [F] | init [-o F] | show``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wsmon_tui.errors import ConfigError


def _check(args: argparse.Namespace) -> int:
    from wsmon_tui.config import find_and_load, load_config, read_toml
    from wsmon_tui.config_check import readiness_checks

    file = getattr(args, "file", None)
    if file:
        if not Path(file).exists():
            raise ConfigError(f"{file}: no such file")
        config = load_config(file, explicit=True)
    else:
        config = find_and_load(getattr(args, "config", None))
    raw = read_toml(Path(config.source)) if config.source else None
    where = config.source or "built-in defaults (no config file found)"
    print(f"{where}: valid ({len(config.targets)} targets, {len(config.alerts.rules)} rules, "
          f"{len(config.alerts.channels)} channels)")
    items = readiness_checks(config, raw=raw, state_dir=getattr(args, "state_dir", None))
    for item in items:
        print(item.line())
    counts = {status: sum(1 for i in items if i.status == status) for status in ("PASS", "WARN", "FAIL")}
    print(f"{counts['PASS']} passed, {counts['WARN']} warnings, {counts['FAIL']} failures")
    return 1 if counts["FAIL"] else 0


def _init(args: argparse.Namespace) -> int:
    from wsmon_tui.config_template import TEMPLATE

    output = getattr(args, "output", None)
    if not output or output == "-":
        sys.stdout.write(TEMPLATE)
        return 0
    path = Path(output)
    if path.exists():
        print(f"wsmon-tui: {path}: already exists; not overwriting it (choose another -o or remove it)",
              file=sys.stderr)
        return 2
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(TEMPLATE)
    except OSError as exc:
        print(f"wsmon-tui: {path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}; edit it, then run: wsmon-tui config check {path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import tomli_w

    from wsmon_tui.config import find_and_load
    from wsmon_tui.redact import redacted_config_dict

    config = find_and_load(getattr(args, "config", None))
    where = f"from {config.source}" if config.source else "from built-in defaults (no config file found)"
    sys.stdout.write(f"# wsmon-tui effective config {where}; environment applied, secrets redacted\n")
    sys.stdout.write(tomli_w.dumps(redacted_config_dict(config)))
    return 0


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "config_command", None)
    if action == "check":
        return _check(args)
    if action == "init":
        return _init(args)
    if action == "show":
        return _show(args)
    print("wsmon-tui: config needs an action: check, init or show", file=sys.stderr)
    return 2
