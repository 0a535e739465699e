"""A Linux terminal driver whose input thread sleeps until there is input.

Textual's ``LinuxDriver`` reads keys in a thread that polls ``select`` every 0.1 s, so it
can notice when to stop and time out a lone Escape. That is ten wake-ups a second of an
otherwise idle process; on a VM each wake-up of an idle CPU is what costs most, and those
ten cost more than everything else an idle dashboard does (benchmarks/bench_tui.py).

This driver blocks in ``select`` until a key arrives, a pending escape sequence needs
its timeout, or ``disable_input`` wakes it through a pipe. Everything else is Textual's.
Written against Textual 8.x (``run_input_thread`` and ``disable_input`` are copied with
those two changes). tests/test_tmux.py drives the real executable with it in tmux: keys,
a lone Escape (the parser's timeout path) closing the rollback dialog, and quitting.
"""

from __future__ import annotations

import os
import selectors
import signal
import termios
from codecs import getincrementaldecoder

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver


class QuietLinuxDriver(LinuxDriver):
    """``LinuxDriver`` without the 10 Hz input poll."""

    _wake_r: int = -1
    _wake_w: int = -1

    def start_application_mode(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        super().start_application_mode()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # full (already woken) or closed

    def disable_input(self) -> None:
        """Textual's, plus a wake-up of the input thread blocked in ``select``."""
        try:
            if not self.exit_event.is_set():
                signal.signal(signal.SIGWINCH, signal.SIG_DFL)
                self._disable_mouse_support()
                self.exit_event.set()
                self._wake()
                if self._key_thread is not None:
                    self._key_thread.join()
                self.exit_event.clear()
                try:
                    termios.tcflush(self.fileno, termios.TCIFLUSH)
                except termios.error:
                    pass
        except Exception:
            pass
        finally:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._wake_r = self._wake_w = -1

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual's loop with a blocking ``select``)."""
        selector = selectors.SelectSelector()
        fileno = self.fileno
        selector.register(fileno, selectors.EVENT_READ)
        wake_r = self._wake_r
        if wake_r >= 0:
            selector.register(wake_r, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def timeout() -> float | None:
            """None (block) unless the parser waits out an escape sequence."""
            due = parser._timeout_time  # Textual's parser keeps its deadline here
            return None if due is None else max(0.0, due - get_time())

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> bool:
            for key, mask in events:
                if not mask & selectors.EVENT_READ:
                    continue
                if key.fd == wake_r:
                    os.read(wake_r, 64)
                    continue
                data = decode(os.read(fileno, 1024 * 4), final=final)
                if not data:
                    return False  # stdin closed (piped input)
                for event in feed(data):
                    self.process_message(event)
            for event in tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not process(selector.select(timeout())):
                    break
            selector.unregister(fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
