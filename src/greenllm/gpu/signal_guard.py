"""Signals while a GPU setting is pinned: SIGTERM/SIGHUP become ``SystemExit`` so the
``finally`` that restores the card runs, and every signal that arrives *during* that
restore is held back and delivered after it, so the restore itself is never cut short.
"""

from __future__ import annotations

import os
import signal
import threading


class SignalGuard:
    """SIGTERM/SIGHUP -> SystemExit while pinned; signals held back during the restore."""

    _RAISE = (signal.SIGTERM, signal.SIGHUP)
    _HOLD = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def __init__(self) -> None:
        # Python only lets the main thread install handlers; elsewhere the caller's own
        # handling applies (documented limitation).
        self._active = threading.current_thread() is threading.main_thread()
        self._prev: dict[int, object] = {}
        self._held: list[int] = []

    def install(self) -> None:
        if not self._active:
            return
        for sig in self._RAISE:
            prev = signal.getsignal(sig)
            if prev is signal.SIG_IGN:
                continue  # e.g. nohup: the user asked to ignore it
            self._prev[sig] = prev
            signal.signal(sig, self._raise)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            # Same as Python's own Ctrl-C handling, plus: a second Ctrl-C while the first
            # unwinds is held back instead of cutting the restore short.
            self._prev[signal.SIGINT] = signal.default_int_handler
            signal.signal(signal.SIGINT, self._raise)

    def _raise(self, signum: int, frame: object) -> None:
        self.defer()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def defer(self) -> None:
        if not self._active:
            return
        for sig in self._HOLD:
            prev = signal.getsignal(sig)
            self._prev.setdefault(sig, prev)
            if prev is not signal.SIG_IGN:
                signal.signal(sig, self._hold)

    def _hold(self, signum: int, frame: object) -> None:
        self._held.append(signum)

    def restore(self) -> None:
        if not self._active:
            return
        for sig, handler in self._prev.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)  # type: ignore[arg-type]
        for sig in dict.fromkeys(self._held):
            os.kill(os.getpid(), sig)  # deliver what arrived during the restore, now
