"""Rollback and throttle steps: http, command and flag, run in order with results and durations.

A command step's ``argv`` goes straight to ``asyncio.create_subprocess_exec``: no shell
ever sees it, so ``;``, ``$(...)`` and backticks stay literal arguments. The child runs
in its own process group with stdin closed; on timeout the whole group is killed.
Output is captured (bounded), redacted and truncated before it reaches the audit or the
session log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from wsmon_tui.config import StepConfig
from wsmon_tui.redact import redact_argv, redact_headers, redact_text, redact_url
from wsmon_tui.rollback.flags import FlagError, FlagProvider

OUTPUT_CAP = 64 * 1024
"""Bytes of stdout/stderr kept per stream while the child runs (the rest is drained, dropped)."""
OUTPUT_SHOWN = 2000
"""Characters of each stream kept in the audit and the session log."""
DETAIL_MAX = 500
KILL_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class StepResult:
    type: str
    name: str
    ok: bool | None
    """None: not run (dry run, or skipped after an earlier failure)."""
    duration_ms: float
    detail: str
    started_at: float
    stdout: str = ""
    stderr: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def brief(self) -> dict[str, Any]:
        """The audit/report form: {type, name, ok, duration_ms, detail}."""
        return {"type": self.type, "name": self.name, "ok": self.ok,
                "duration_ms": round(self.duration_ms, 1), "detail": self.detail}


def step_label(step: StepConfig) -> str:
    if step.name:
        return step.name
    if step.type == "command":
        return os.path.basename(step.argv[0]) if step.argv else "command"
    if step.type == "http":
        return f"{step.method.upper()} {redact_url(step.url or '')}"
    return "flag"


def describe_step(step: StepConfig, secrets: Iterable[str] = ()) -> str:
    """One line saying what the step would do, secrets redacted (dry runs, confirmations)."""
    if step.type == "http":
        text = f"http {step.method.upper()} {redact_url(step.url or '')}"
        if step.headers:
            text += f" headers={redact_headers(step.headers)}"
        if step.json is not None:
            import json

            text += f" json={json.dumps(step.json)}"
        elif step.body is not None:
            text += f" body={step.body[:80]!r}"
        text += f" expect={step.expect_status or '2xx'}"
    elif step.type == "command":
        text = f"command {redact_argv(step.argv, secrets)!r}"
        if step.cwd:
            text += f" cwd={step.cwd!r}"
        if step.env:
            text += f" env={sorted(step.env)}"
    else:
        parts = []
        if step.enabled is not None:
            parts.append(f"enabled={'true' if step.enabled else 'false'}")
        if step.rollout is not None:
            parts.append(f"rollout={step.rollout:g}")
        text = f"flag {step.name} " + " ".join(parts)
    text += f" (timeout {step.timeout:g}s{', continue on error' if step.continue_on_error else ''})"
    return redact_text(text, secrets)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


async def run_step(step: StepConfig, *, client: httpx.AsyncClient, flags: FlagProvider | None,
                   secrets: Iterable[str] = (), clock: Callable[[], float] = time.time) -> StepResult:
    """Run one step; never raises for the step's own failure (it is in the result)."""
    secret_set = set(secrets)
    started_at = clock()
    t0 = time.monotonic()
    stdout = stderr = ""
    try:
        if step.type == "http":
            ok, detail = await _run_http(step, client)
        elif step.type == "command":
            ok, detail, stdout, stderr = await _run_command(step)
        elif step.type == "flag":
            ok, detail = await _run_flag(step, flags)
        else:
            ok, detail = False, f"unknown step type {step.type!r}"
    except Exception as exc:  # a bug in a step must not abort the rollback's bookkeeping
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    duration_ms = (time.monotonic() - t0) * 1000
    return StepResult(
        type=step.type, name=step_label(step), ok=ok, duration_ms=duration_ms,
        detail=_clip(redact_text(detail, secret_set), DETAIL_MAX), started_at=started_at,
        stdout=_clip(redact_text(stdout, secret_set), OUTPUT_SHOWN),
        stderr=_clip(redact_text(stderr, secret_set), OUTPUT_SHOWN),
    )


async def run_steps(steps: Sequence[StepConfig], *, client: httpx.AsyncClient, flags: FlagProvider | None,
                    secrets: Iterable[str] = (), clock: Callable[[], float] = time.time,
                    on_result: Callable[[int, StepResult], Awaitable[None] | None] | None = None,
                    ) -> list[StepResult]:
    """Run ``steps`` in order; a failed step stops the rest unless it has ``continue_on_error``.

    Steps not run are returned too (``ok=None``, "not run: ..."), so the audit shows the
    whole plan. ``on_result(index, result)`` is called after each step.
    """
    results: list[StepResult] = []
    stopped_by: str | None = None
    for i, step in enumerate(steps):
        if stopped_by is not None:
            result = StepResult(type=step.type, name=step_label(step), ok=None, duration_ms=0.0,
                                detail=f"not run: step {stopped_by} failed", started_at=clock())
        else:
            result = await run_step(step, client=client, flags=flags, secrets=secrets, clock=clock)
            if not result.ok and not step.continue_on_error:
                stopped_by = f"{i + 1} ({result.name})"
        results.append(result)
        if on_result is not None:
            maybe = on_result(i, result)
            if maybe is not None:
                await maybe
    return results


def planned(steps: Sequence[StepConfig], why: str,
            clock: Callable[[], float] = time.time) -> list[StepResult]:
    """The steps as results that were not run (dry run)."""
    return [StepResult(type=s.type, name=step_label(s), ok=None, duration_ms=0.0, detail=why,
                       started_at=clock()) for s in steps]


# -- http ------------------------------------------------------------------------------


async def _run_http(step: StepConfig, client: httpx.AsyncClient) -> tuple[bool, str]:
    url = step.url or ""
    kwargs: dict[str, Any] = {"headers": step.headers, "timeout": step.timeout}
    if step.json is not None:
        kwargs["json"] = step.json
    elif step.body is not None:
        kwargs["content"] = step.body.encode()
    own: httpx.AsyncClient | None = None
    if not step.verify_tls:
        own = httpx.AsyncClient(verify=False, follow_redirects=False)
    try:
        response = await asyncio.wait_for((own or client).request(step.method.upper(), url, **kwargs),
                                          step.timeout + 1)
    except TimeoutError:
        return False, f"timed out after {step.timeout:g}s"
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        if own is not None:
            with contextlib.suppress(Exception):
                await own.aclose()
    status = response.status_code
    ok = status in step.expect_status if step.expect_status else 200 <= status < 300
    detail = f"HTTP {status}"
    if not ok:
        expected = ", ".join(map(str, step.expect_status)) if step.expect_status else "2xx"
        body = response.text[:200].replace("\n", " ")
        detail += f" (expected {expected}): {body!r}"
    return ok, detail


# -- command ---------------------------------------------------------------------------


async def _drain(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    buf = bytearray()
    dropped = 0
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        room = OUTPUT_CAP - len(buf)
        buf += chunk[:room]
        dropped += max(0, len(chunk) - room)
    if dropped:
        buf += f"\n... [{dropped} more bytes]".encode()
    return bytes(buf)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the step's own process group (it was started in a new session)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def _run_command(step: StepConfig) -> tuple[bool, str, str, str]:
    argv = [str(a) for a in step.argv]
    if not argv:
        return False, "no argv", "", ""
    env = {**os.environ, **{str(k): str(v) for k, v in step.env.items()}}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=step.cwd or None, start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = exc.filename or argv[0]
        what = "working directory" if step.cwd and str(missing) == step.cwd else "program"
        return False, f"{what} not found: {missing}", "", ""
    except PermissionError as exc:
        return False, f"not allowed to run {argv[0]}: {exc.strerror or exc}", "", ""
    except OSError as exc:
        return False, f"cannot run {argv[0]}: {exc.strerror or exc}", "", ""
    readers = [asyncio.ensure_future(_drain(proc.stdout)), asyncio.ensure_future(_drain(proc.stderr))]
    timed_out = False
    try:
        try:
            await asyncio.wait_for(proc.wait(), step.timeout)
        except TimeoutError:
            timed_out = True
            _kill_group(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), KILL_GRACE)
    finally:
        if proc.returncode is None:  # cancelled: never leave the child behind
            _kill_group(proc)
    # a grandchild outside the group could hold the pipes open: do not wait for it forever
    done, pending = await asyncio.wait(readers, timeout=2.0)
    for task in pending:
        task.cancel()
    out = readers[0].result() if readers[0] in done else b""
    err = readers[1].result() if readers[1] in done else b""
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    if timed_out:
        return False, f"timed out after {step.timeout:g}s; killed", stdout, stderr
    rc = proc.returncode
    ok = rc == 0
    detail = f"exit {rc}"
    if rc is not None and rc < 0:
        detail = f"killed by signal {-rc}"
    tail = (stderr.strip() or stdout.strip()).splitlines()[-1:] if not ok else []
    if tail:
        detail += f": {tail[0][:200]}"
    return ok, detail, stdout, stderr


# -- flag ------------------------------------------------------------------------------


async def _run_flag(step: StepConfig, flags: FlagProvider | None) -> tuple[bool, str]:
    if flags is None:
        return False, "no [flags] provider is configured"
    try:
        state = await asyncio.wait_for(flags.set(step.name, enabled=step.enabled, rollout=step.rollout),
                                       step.timeout)
    except TimeoutError:
        return False, f"timed out after {step.timeout:g}s"
    except FlagError as exc:
        return False, str(exc)
    shown = {k: state.get(k) for k in ("enabled", "rollout") if k in state}
    return True, f"{step.name} is now {shown}"
