"""The thread every periodic part of the hub runs on: call `run_once`, wait, repeat until stopped."""

from __future__ import annotations

import threading


class Ticker:
    """Subclasses set `thread_name`, and define `run_once` (what tests drive) and `interval`."""

    thread_name = "tallyhub-ticker"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def interval(self) -> float:
        raise NotImplementedError

    def run_once(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval()):
            self.run_once()
