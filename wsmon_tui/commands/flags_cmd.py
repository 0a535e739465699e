"""``wsmon-tui flags list | set NAME true|false | rollout NAME PERCENT``.

Exit codes: 0 done, 1 the provider failed, 2 a usage or config problem (nothing changed).
Changes are recorded in the rollback audit (``rollback_flag_changes``) with who and when.
When an engine with a flag provider runs on the state dir, the command goes through it
(``wsmon_tui.attach``), which makes and records the change.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import math
import os
import sys
import time

from wsmon_tui.config import Config
from wsmon_tui.errors import UsageError

_TRUE = {"true", "on", "yes", "1", "enable", "enabled"}
_FALSE = {"false", "off", "no", "0", "disable", "disabled"}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "unknown")


def parse_enabled(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise UsageError(f"flags set: expected true or false, got {value!r}")


def parse_percent(value: str) -> float:
    try:
        percent = float(value)
    except ValueError:
        raise UsageError(f"flags rollout: expected a percent 0-100, got {value!r}") from None
    if not math.isfinite(percent) or not 0 <= percent <= 100:
        raise UsageError(f"flags rollout: expected a percent 0-100, got {value!r}")
    return int(percent) if percent.is_integer() else percent


def _fmt_state(state: dict) -> tuple[str, str]:
    enabled = state.get("enabled")
    rollout = state.get("rollout")
    shown_enabled = "on" if enabled is True else "off" if enabled is False else "?"
    if isinstance(rollout, bool) or not isinstance(rollout, int | float):
        shown_rollout = "-"
    else:
        shown_rollout = f"{rollout:g}%"
    return shown_enabled, shown_rollout


def _printable(text: str) -> str:
    """Flag names come from a server: print them without control characters."""
    return "".join(c if c.isprintable() else "?" for c in text)


def run(args: argparse.Namespace) -> int:
    from wsmon_tui.config import find_and_load

    action = getattr(args, "flags_command", None)
    enabled: bool | None = None
    rollout: float | None = None
    if action == "set":
        enabled = parse_enabled(args.value)
    elif action == "rollout":
        rollout = parse_percent(args.percent)
    elif action != "list":
        raise UsageError(f"flags: unknown action {action!r}")
    config = find_and_load(getattr(args, "config", None))
    if config.flags.provider is None:
        where = config.source or "the built-in defaults"
        print(f"wsmon-tui: {where}: flags.provider: no flag provider is configured "
              '(set [flags] provider = "file" or "http")', file=sys.stderr)
        return 2
    if action != "list" and getattr(args, "read_only", False):
        print("wsmon-tui: this session is read-only: changing flags is not allowed", file=sys.stderr)
        return 1
    through_engine = _through_engine(args, config, action, enabled, rollout)
    if through_engine is not None:
        return through_engine
    return asyncio.run(_run(args, config, action, enabled, rollout))


def _through_engine(args: argparse.Namespace, config: Config, action: str, enabled: bool | None,
                    rollout: float | None) -> int | None:
    """The action done by the running engine's flag provider (exit code), or None without one."""
    from wsmon_tui.attach.client import NO_ENGINE, engine_call
    from wsmon_tui.errors import WsmonError
    from wsmon_tui.runtime import resolve_state_dir

    state_dir = resolve_state_dir(args, config)
    try:
        if action == "list":
            flags = engine_call(state_dir, "flags_list", user=_user())
            if flags is NO_ENGINE:
                return None
            _print_flags(flags)
            return 0
        got = engine_call(state_dir, "flags_set", user=_user(), name=args.name, enabled=enabled,
                          rollout=rollout)
    except WsmonError as exc:
        if "no flag provider" in str(exc):
            return None  # the engine has none: this command's own provider does it
        print(f"wsmon-tui: {exc}", file=sys.stderr)
        return 1
    if got is NO_ENGINE:
        return None
    shown_enabled, shown_rollout = _fmt_state(got["after"])
    print(f"{_printable(args.name)}: {shown_enabled}, rollout {shown_rollout} (by the running engine)")
    return 0


async def _run(args: argparse.Namespace, config: Config, action: str, enabled: bool | None,
               rollout: float | None) -> int:
    import httpx

    from wsmon_tui.rollback.flags import FlagError, make_provider

    async with httpx.AsyncClient(verify=config.flags.verify_tls, timeout=10.0) as client:
        provider = make_provider(config.flags, client)
        assert provider is not None
        try:
            if action == "list":
                flags = await provider.list()
                _print_flags(flags)
                return 0
            before = (await provider.list()).get(args.name)
            after = await provider.set(args.name, enabled=enabled, rollout=rollout)
        except FlagError as exc:
            print(f"wsmon-tui: {exc}", file=sys.stderr)
            return 1
    shown_enabled, shown_rollout = _fmt_state(after)
    print(f"{_printable(args.name)}: {shown_enabled}, rollout {shown_rollout}")
    _audit(args, config, args.name, before, after)
    return 0


def _print_flags(flags: dict[str, dict]) -> None:
    if not flags:
        print("no flags")
        return
    width = max(len("FLAG"), *(len(_printable(n)) for n in flags))
    print(f"{'FLAG':<{width}}  ENABLED  ROLLOUT")
    for name in sorted(flags):
        shown_enabled, shown_rollout = _fmt_state(flags[name])
        print(f"{_printable(name):<{width}}  {shown_enabled:<7}  {shown_rollout}")


def _audit(args: argparse.Namespace, config: Config, name: str, before: dict | None, after: dict) -> None:
    from wsmon_tui.rollback.audit import AuditDB
    from wsmon_tui.runtime import resolve_state_dir
    from wsmon_tui.store import state_db_path

    try:
        state_dir = resolve_state_dir(args, config)
        audit = AuditDB(state_db_path(state_dir))
        try:
            audit.record_flag_change(at=time.time(), user=_user(), flag=name, before=before, after=after)
        finally:
            audit.close()
    except Exception as exc:  # the change is made; say that it was not recorded
        print(f"wsmon-tui: warning: the change was not recorded in the audit: {exc}", file=sys.stderr)
