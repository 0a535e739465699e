"""``wsmon-tui rollback [--reason R] [--yes] [--dry-run]``: a confirmed manual rollback, verified.

``--dry-run`` (or ``[rollback] dry_run``) prints the steps and runs nothing. Without
``--yes`` it shows the steps and asks for the deployment's name on a terminal, and
refuses (exit 2, nothing run) when stdin is not one. After the steps it runs a real
Monitor for up to ``verify_window`` and exits 0 when the rollback is verified, 1 when it
failed (a step failed, or health did not recover).

When an engine runs on the state dir, the rollback is the engine's (through its socket,
``wsmon_tui.attach``): it runs the steps, records who and when, and verifies on its own
probes, which this command follows until the outcome is known.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import sys
from typing import Any

from wsmon_tui.config import Config


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "unknown")


def _say(text: str) -> None:
    """Print a line; step details carry server and command output, so control characters go."""
    print("".join(c if c.isprintable() else "?" for c in text), flush=True)


def run(args: argparse.Namespace) -> int:
    from wsmon_tui.config import find_and_load
    from wsmon_tui.rollback.steps import describe_step

    config = find_and_load(getattr(args, "config", None))
    if getattr(args, "read_only", False):
        print("wsmon-tui: this session is read-only: rollback is not allowed", file=sys.stderr)
        return 1
    steps = config.rollback.steps
    where = config.source or "the built-in defaults"
    if not steps:
        print(f"wsmon-tui: {where}: rollback.steps: no [[rollback.steps]] are configured", file=sys.stderr)
        return 2
    name = config.deployment.name
    dry_run = bool(getattr(args, "dry_run", False) or config.rollback.dry_run)
    _say(f"Rollback of {name}" + (f" {config.deployment.version}" if config.deployment.version else "")
         + (f" to {config.deployment.previous_version}" if config.deployment.previous_version else "")
         + f": {len(steps)} step(s)")
    for i, step in enumerate(steps, start=1):
        _say(f"  {i}. {describe_step(step, config.secrets)}")
    if dry_run:
        _say("Dry run: nothing was run.")
        return _through_engine(args, config, dry_run=True) or asyncio.run(_run(args, config, dry_run=True))
    if not getattr(args, "yes", False):
        if not sys.stdin.isatty():
            print("wsmon-tui: refusing to roll back without confirmation: stdin is not a terminal "
                  "(pass --yes to confirm non-interactively)", file=sys.stderr)
            return 2
        try:
            typed = input(f"Type the deployment name ({name}) to roll back: ")
        except EOFError:
            typed = ""
        if typed.strip() != name:
            _say("Not confirmed: nothing was run.")
            return 1
    through_engine = _through_engine(args, config, dry_run=False)
    if through_engine is not None:
        return through_engine
    return asyncio.run(_run(args, config, dry_run=False))


def _through_engine(args: argparse.Namespace, config: Config, *, dry_run: bool) -> int | None:
    """The rollback run by the engine running on the state dir (exit code), or None without one."""
    from wsmon_tui.attach.client import find_engine, run_sync
    from wsmon_tui.attach.protocol import socket_path
    from wsmon_tui.runtime import resolve_state_dir

    state_dir = resolve_state_dir(args, config)
    if not socket_path(state_dir).exists():
        return None

    async def go() -> int | None:
        conn = await find_engine(state_dir, user=_user(), face="cli")
        if conn is None:
            return None
        try:
            return await _engine_rollback(conn, args, config, dry_run=dry_run)
        finally:
            await conn.close()

    return run_sync(go)


def _told_steps(result: dict[str, Any]) -> bool:
    """Say how each step went; False (and why) when the rollback failed before verifying."""
    for i, step in enumerate(result["steps"], start=1):
        mark = "ok" if step["ok"] else "FAILED" if step["ok"] is False else "not run"
        _say(f"  step {i} {step['name']}: {mark} ({step['duration_ms']:.0f} ms) {step['detail']}")
    if result["state"] != "verifying":
        _say(f"Rollback #{result['id']} failed: {result['detail']}")
        return False
    return True


async def _engine_rollback(conn: Any, args: argparse.Namespace, config: Config, *, dry_run: bool) -> int:
    from wsmon_tui.model import Snapshot

    pid = conn.info.get("pid")
    snapshots: asyncio.Queue[Snapshot] = asyncio.Queue()
    conn.on_snapshot = snapshots.put_nowait
    reason = getattr(args, "reason", None) or "manual rollback"
    result = await conn.request("rollback", reason=reason, user=_user(), dry_run=dry_run)
    if dry_run:
        _say(f"Recorded as rollback #{result['id']} (dry_run) by the running engine (pid {pid}).")
        return 0
    if not _told_steps(result):
        return 1
    window = config.rollback.verify_window
    _say(f"Steps done; the running engine (pid {pid}) verifies: {config.rollback.verify_successes} "
         f"healthy evaluations within {window:g}s...")
    await conn.request("subscribe")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window + max(2 * float(conn.info.get("interval") or 1.0), 2.0) + 5.0
    while loop.time() < deadline:
        getting = asyncio.ensure_future(snapshots.get())
        done, _ = await asyncio.wait((getting, conn.closed), timeout=max(0.1, deadline - loop.time()),
                                     return_when=asyncio.FIRST_COMPLETED)
        if getting not in done:
            getting.cancel()
            if conn.closed in done:  # the engine went away mid-verification: say so now
                _say(f"Rollback #{result['id']}: the engine (pid {pid}) ended before the rollback was "
                     "verified; `wsmon-tui status` shows how its session ended")
                return 1
            break
        view = getting.result().rollback
        if view is not None and view.id == result["id"] and view.state not in ("running", "verifying"):
            _say(f"Rollback #{view.id} {view.state}: {view.reason}")
            return 0 if view.state == "verified" else 1
    _say(f"Rollback #{result['id']}: no outcome yet; the engine goes on verifying (wsmon-tui status)")
    return 1


async def _run(args: argparse.Namespace, config: Config, *, dry_run: bool) -> int:
    import httpx

    from wsmon_tui.engine.monitor import Monitor
    from wsmon_tui.rollback.controller import RollbackController
    from wsmon_tui.rollback.flags import make_provider
    from wsmon_tui.runtime import open_store, resolve_state_dir
    from wsmon_tui.store import state_db_path

    # the command's own run never rolls back by itself: it only verifies the one it ran
    config.rollback = dataclasses.replace(config.rollback, auto=False)
    state_dir = resolve_state_dir(args, config)
    store, store_error = (None, "") if dry_run else open_store(state_dir)
    if store_error:
        print(f"wsmon-tui: {store_error}; verifying without history", file=sys.stderr)
    db_path = state_db_path(state_dir)
    alert_engine = None if dry_run else _alert_engine(config, db_path)
    monitor: Monitor | None = None
    async with httpx.AsyncClient(follow_redirects=False) as client:
        flags = make_provider(config.flags, client)
        controller = RollbackController(config, db_path, flags=flags, client=client,
                                        alert_engine=alert_engine, session_id="")
        notifications: list[Any] = []
        try:
            reason = getattr(args, "reason", None) or "manual rollback"
            result = await controller.rollback(reason=reason, user=_user(), trigger="manual",
                                               automatic=False, dry_run=dry_run)
            if dry_run:
                _say(f"Recorded as rollback #{result['id']} (dry_run).")
                return 0
            if not _told_steps(result):
                return 1
            window = config.rollback.verify_window
            _say(f"Steps done; verifying: {config.rollback.verify_successes} healthy evaluations "
                 f"within {window:g}s...")
            # a fresh Monitor (its window holds only probes made after the steps), without its own
            # alert/rollback stages: this command's controller judges, its alerts go out below
            monitor = Monitor(config, store, state_dir=state_dir, stages=False)
            notifications.extend(await _verify(monitor, controller, window))
            final = controller.current or {}
            outcome = final.get("state")
            if outcome == "verified":
                _say(f"Rollback #{final.get('id')} verified: {final.get('detail')}")
                return 0
            _say(f"Rollback #{final.get('id')} {outcome}: {final.get('detail')}")
            return 1
        finally:
            await controller.aclose()
            notifications.extend(controller.take_notifications())
            if alert_engine is not None:
                alert_engine.close()
            await _deliver(config, db_path, notifications)
            if store is not None:
                store.close()


async def _verify(monitor: Any, controller: Any, window: float) -> list[Any]:
    """Run the Monitor with the controller as its hook until the outcome is known; the notifications."""
    notifications: list[Any] = controller.take_notifications()

    async def hook(snapshot: Any) -> Any:
        controller.session_id = controller.session_id or snapshot.session_id
        snapshot, out = await controller.on_snapshot(snapshot, set())
        notifications.extend(out)
        state = controller.view().state
        if state not in ("running", "verifying"):
            monitor.request_stop("user")
        return snapshot

    monitor.hooks.append(hook)
    await monitor.run(window + max(monitor.tick_period * 2, 2.0))
    controller.conclude(monitor.latest)  # the window ended between two ticks: not verified
    notifications.extend(controller.take_notifications())
    return notifications


async def _deliver(config: Config, db_path: Any, notifications: list[Any]) -> None:
    """Hand the rollback's notifications (RollbackInProgress, RollbackFailed) to the durable outbox
    and try to send them now; what cannot be sent stays queued for the next monitor session."""
    if not notifications or not config.alerts.channels:
        return
    try:
        from wsmon_tui.alerts.outbox import Outbox

        outbox = Outbox(db_path, config.alerts.channels, deployment=config.deployment.name,
                        secrets=config.secrets)
        try:
            outbox.enqueue(notifications)
            await outbox.drain(5.0)
        finally:
            await outbox.aclose()
    except Exception as exc:
        print(f"wsmon-tui: warning: notifications not sent: {exc}", file=sys.stderr)


def _alert_engine(config: Config, db_path: Any) -> Any | None:
    """The alert engine, so that a failed rollback raises RollbackFailed; None when unavailable."""
    try:
        from wsmon_tui.alerts.engine import AlertEngine

        return AlertEngine(config, db_path)
    except Exception as exc:
        print(f"wsmon-tui: warning: alerts unavailable ({exc}); a failed rollback is only reported here",
              file=sys.stderr)
        return None
