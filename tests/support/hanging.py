"""A TCP server on localhost that accepts every connection and never answers, until released."""

from __future__ import annotations

import contextlib
import socket
import threading


class HangingServer:
    """Accepts connections and holds them silent; `release()` closes them all (and every later one)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = int(self._sock.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.accepted = 0
        # Connections open at once, at most: a caller that gives up (its read timeout) closes its
        # connection and its pool may start the next one, so `accepted` alone counts more than held.
        self.open = 0
        self.peak_open = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hang"

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hang"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed
                return
            with self._lock:
                self.accepted += 1
                if self._released.is_set():
                    conn.close()
                    continue
                self._held.append(conn)
                self.open += 1
                self.peak_open = max(self.peak_open, self.open)
            threading.Thread(target=self._watch, args=(conn,), daemon=True).start()

    def _watch(self, conn: socket.socket) -> None:
        """Read what the caller sends until it closes the connection (or release() does)."""
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        with self._lock:
            self.open -= 1

    def release(self) -> None:
        """Close every held connection: the callers waiting on them fail at once."""
        with self._lock:
            self._released.set()
            for conn in self._held:
                with contextlib.suppress(OSError):  # shut down first: that wakes the watcher's recv
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._held.clear()

    def close(self) -> None:
        self.release()
        self._sock.close()
