"""A TCP server on localhost that accepts every connection and never answers, until released."""

from __future__ import annotations

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
                else:
                    self._held.append(conn)

    def release(self) -> None:
        """Close every held connection: the callers waiting on them fail at once."""
        with self._lock:
            self._released.set()
            for conn in self._held:
                conn.close()
            self._held.clear()

    def close(self) -> None:
        self.release()
        self._sock.close()
