"""The Linux terminal driver: Textual's, with an input thread that sleeps until there is input,
and writes that stop once the terminal hung up.

**Input.** Textual's ``LinuxDriver.run_input_thread`` polls ``select`` every 0.1 s, so that
it notices when to stop and can time out a lone Escape. That is ten wake-ups a second of a
thread that needs the GIL each time, in a process that otherwise wakes about once a second.
Measured with an attached dashboard (10 targets, 1 s, 160x48 in tmux; CPU of its process over
40 s, two runs each): 1.22 and 1.10 % of a core with Textual's loop, 0.72 and 0.82 % with this
one: a third of the dashboard's CPU, and 0.17x of ``glances -t 1``. ``benchmarks/bench_attach.py``
holds the dashboard to <= 0.5x of glances: 0.52x with Textual's loop, 0.42x with this one.

So ``run_input_thread`` here is Textual's loop with one change: after the last input it keeps
Textual's 0.1 s poll for ``GRACE`` seconds (the parser's Escape timeout happens in that
time: ``tick``), then blocks in ``select`` until input arrives or ``disable_input`` wakes it
through a pipe. The price is one private name, ``textual._xterm_parser.XTermParser``, the
parser Textual's own loop uses. ``tests/test_textual_internals.py`` fails when Textual's
``run_input_thread`` or the parser's interface changes (then compare this loop with the new
one), and ``tests/test_tmux.py`` drives the real executable with it: keys, a lone Escape
closing a dialog, signals, quitting, and a hang-up.

**Hang-up.** When an SSH session drops, the pty hangs up under the app. Textual's writer
thread dies on the first failed write, and its bounded queue then blocks the event loop for
good, so the engine could never close its session. Once the app says the terminal is gone
(``WsmonApp.hung_up``), every write is dropped (the public ``write``).
"""

from __future__ import annotations

import os
import selectors
import time
from codecs import getincrementaldecoder
from typing import Any

from textual import constants
from textual._xterm_parser import XTermParser  # the one private name: see the module docstring
from textual.drivers.linux_driver import LinuxDriver

POLL = 0.1
"""Textual's poll interval (s) while input may still be arriving."""
GRACE = max(1.0, 2 * constants.ESCAPE_DELAY + POLL)
"""How long (s) after the last input the thread keeps polling: past the parser's Escape timeout."""


class WsmonLinuxDriver(LinuxDriver):
    """``LinuxDriver`` whose input thread blocks between keys and whose writes stop at a hang-up."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.wsmon_app = app
        self.parser_debug = bool(kwargs.get("debug", False))
        self.input_wake: tuple[int, int] | None = None
        """The pipe (read end, write end) that wakes the input thread to stop."""
        self.input_stopping = False
        self.input_wakeups = 0
        """How many times the input thread woke (tests read it)."""

    def write(self, data: str) -> None:
        if getattr(self.wsmon_app, "hung_up", False):
            return  # nothing can reach a hung-up terminal, and queueing it would block
        super().write(data)

    def start_application_mode(self) -> None:
        self.input_stopping = False
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self.input_wake = (read_end, write_end)
        super().start_application_mode()

    def disable_input(self) -> None:
        """Textual's, after waking the input thread (blocked in ``select``) to stop."""
        self.input_stopping = True
        wake = self.input_wake
        if wake is not None:
            try:
                os.write(wake[1], b"x")
            except OSError:
                pass  # full: it is being woken already
        try:
            super().disable_input()  # sets exit_event and joins the thread
        finally:
            self.input_wake = None
            for fd in wake or ():
                try:
                    os.close(fd)
                except OSError:
                    pass

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events: Textual's loop, blocking once input is quiet."""
        selector = selectors.SelectSelector()
        fileno = self.fileno
        selector.register(fileno, selectors.EVENT_READ)
        wake = self.input_wake
        if wake is not None:
            selector.register(wake[0], selectors.EVENT_READ)
        parser = XTermParser(self.parser_debug)
        feed, tick = parser.feed, parser.tick
        decode = getincrementaldecoder("utf-8")().decode
        last_input = time.monotonic()
        reading = True

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            nonlocal last_input, reading
            for key, mask in events:
                if not mask & selectors.EVENT_READ:
                    continue
                if wake is not None and key.fd == wake[0]:
                    os.read(wake[0], 64)
                    continue
                last_input = time.monotonic()
                data = decode(os.read(fileno, 1024 * 4), final=final)
                if not data:  # stdin closed (piped input): nothing more will come
                    selector.unregister(fileno)
                    reading = False
                    break
                for event in feed(data):
                    self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set() and not self.input_stopping:
                quiet = time.monotonic() - last_input > GRACE
                self.input_wakeups += 1
                process(selector.select(None if quiet and wake is not None else POLL))
            if reading:
                selector.unregister(fileno)
            process(selector.select(POLL), final=True)
        finally:
            selector.close()
            try:
                for _ in feed(""):
                    pass
            except Exception:  # Textual's loop ignores the parser's EOF and ParseError here
                pass
