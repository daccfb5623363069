"""The client of one middleware: its aggregates, and the background worker that delivers them."""

from __future__ import annotations

import atexit
import gc
import logging
import math
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from apitally.client import instance
from apitally.client.config import (
    EXIT_FLUSH_SECONDS,
    FIRST_SYNC_DELAY,
    INITIAL_SYNC_DURATION,
    INITIAL_SYNC_INTERVAL,
    SYNC_INTERVAL,
    ClientConfig,
)
from apitally.client.consumers import ConsumerRegistry
from apitally.client.delivery import DeliveryOutcome, Hub, Payload, PayloadQueue, classify, encode
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.metrics import MAX_NOTED, RequestCounter
from apitally.client.request_log import ExchangeFields, RequestLogger
from apitally.client.resources import ResourceSampler
from apitally.client.server_errors import ServerErrorCounter
from apitally.client.transport import Transport

logger = logging.getLogger("apitally")

MAX_LOG_FILES_PER_SYNC = 10
# How often (seconds) the request path asks the kernel for the process id, to notice a fork made
# from C (uWSGI) that ran no at-fork hook. A forked child checks on its first request anyway, since
# `pid_checked` starts at -inf and the at-fork hook (or the parent never serving) leaves it there.
PID_CHECK_INTERVAL = 1.0
TICK = 1.0  # the worker looks at the requests noted on the request path this often
LOG_TICK = 0.1  # and writes captured request logs this often (keeps the captures in memory small)
_FORKED = -1  # `pid` of a client in a forked child until its first request
_clients: weakref.WeakSet[ApitallyClient] = weakref.WeakSet()


class ApitallyClient:
    """Aggregates one app's requests and syncs them from one daemon thread per process.

    Each middleware owns its client (no process-wide singleton), so app factories and tests can
    build as many as they like; each one syncs on its own.
    """

    def __init__(
        self,
        config: ClientConfig,
        logging_config: RequestLoggingConfig,
        startup_data: Callable[[], dict[str, Any]],
        read_fields: Callable[[Any], ExchangeFields],
    ) -> None:
        self.config = config
        self.enabled = config.enabled
        self.requests = RequestCounter()
        self.server_errors = ServerErrorCounter()
        self.consumers = ConsumerRegistry()
        self.requests.consumers = self.consumers
        self.request_logger = RequestLogger(logging_config, read_fields)
        self.hub = Hub(config.prefix, Transport(config.proxy))
        self.queue = PayloadQueue()
        self._startup_data = startup_data
        self._resources = ResourceSampler()
        self._started_at = time.monotonic()
        self._thread: threading.Thread | None = None
        self._worker_wanted = False
        self._slot: weakref.finalize | None = None  # closes the instance slot's lock with the client
        self._fresh_process()
        _clients.add(self)

    def _fresh_process(self) -> None:
        self.pid = os.getpid()
        self.pid_checked = -math.inf
        self._release_instance_slot()
        self._instance_uuid: str | None = None  # taken when first needed: forks that never sync take none
        self._slot_lock = threading.Lock()
        self._startup: bytes | None = None  # built on the first cycle, kept until accepted
        self._startup_sent = False
        self._stop = threading.Event()
        self._finished = False
        self._send_lock = threading.Lock()
        self._resources.reset()

    @property
    def instance_uuid(self) -> str:
        """This process's instance UUID: the one stored in the slot it locks (see `instance`)."""
        with self._slot_lock:
            if self._instance_uuid is None:
                if self.enabled:
                    value, fd = instance.acquire(self.config.client_id, self.config.env)
                    self._slot = weakref.finalize(self, instance.release, fd)
                else:
                    value = str(uuid.uuid4())
                self._instance_uuid = value
            return self._instance_uuid

    def _release_instance_slot(self) -> None:
        # In a forked child this closes the child's copy of the descriptor; the parent keeps its lock.
        if self._slot is not None:
            self._slot()
            self._slot = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread of this process (once)."""
        if self.enabled and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._run, name="apitally-sync", daemon=True)
            self._thread.start()

    def shutdown(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        """Stop the worker and send what is left, within about `timeout` seconds."""
        self._stop.set()
        self._finish(time.monotonic() + timeout)

    def _finish(self, deadline: float) -> None:
        if self._finished:
            return
        self._finished = True
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()) + 1.0)  # the worker flushes itself
        elif self.enabled:
            self._step(lambda: self._flush(deadline))

    def check_process(self, now: float = -math.inf) -> None:
        """On a forked process's first request: adopt the fork if no at-fork hook ran (uWSGI forks
        its workers from C), and start this process's worker thread if the parent had one."""
        self.pid_checked = now
        if len(self.requests.noted) > MAX_NOTED:  # the worker is held up (a slow hub): keep memory bounded
            self.requests.drain()
        if self.pid == _FORKED:
            self.pid = os.getpid()
        elif self.pid != os.getpid():
            self._after_fork_in_child()
            self.pid = os.getpid()
        if self._worker_wanted:
            self._worker_wanted = False
            self.start()

    def _after_fork_in_child(self) -> None:
        # The parent's aggregates, logs and queue are the parent's to send; the child starts empty
        # under an instance UUID of its own. Its worker thread starts with its first request, so
        # forks that serve no requests (a multiprocessing pool, a subprocess) start no thread.
        self._worker_wanted = self._thread is not None
        self._thread = None
        self.requests.reset()
        self.server_errors.reset()
        self.consumers.reset()
        self.request_logger.forget_after_fork()
        self.queue = PayloadQueue()
        self._fresh_process()
        self.pid = _FORKED  # the request path calls check_process() (pid_checked is -inf)

    @property
    def sync_interval(self) -> float:
        if time.monotonic() - self._started_at < INITIAL_SYNC_DURATION:
            return INITIAL_SYNC_INTERVAL
        return SYNC_INTERVAL

    def _run(self) -> None:
        stop = self._stop
        tick = LOG_TICK if self.request_logger.enabled else TICK
        next_sync = next_drain = time.monotonic() + FIRST_SYNC_DELAY
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_sync:
                    self._step(self._cycle)
                    next_sync = time.monotonic() + self.sync_interval
                else:
                    if now >= next_drain:
                        # Aggregating more requests at once is cheaper (identical ones are counted
                        # once), so the worker waits for a good batch or the sync.
                        if len(self.requests.noted) >= MAX_NOTED // 2:
                            self._step(self.requests.drain)
                        elif self.requests.late:
                            self._step(self.requests.finish_late)
                        next_drain = now + TICK
                    self._step(self.request_logger.spool)
                stop.wait(max(0.0, min(tick, next_sync - time.monotonic())))
        finally:
            if self.enabled:
                self._step(self._final_flush)

    def _final_flush(self) -> None:
        self._flush(time.monotonic() + EXIT_FLUSH_SECONDS)

    def _step(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:
            client_fault(exc, f"worker {getattr(work, '__name__', 'step')}")

    # -- sync cycle ---------------------------------------------------------------------------

    def _cycle(self) -> None:
        with self._send_lock:
            self._deliver(None, MAX_LOG_FILES_PER_SYNC)
            self.request_logger.resume_if_due()

    def _flush(self, deadline: float) -> None:
        # The final flush: everything captured so far, one attempt each, within the deadline. A
        # collection first finalises the responses dropped unclosed in reference cycles (a 500's
        # traceback holds the frames that hold them), so that they are counted too.
        gc.collect()
        if self._send_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            try:
                if self.enabled:
                    self._deliver(deadline, None)
            finally:
                self._send_lock.release()

    def _deliver(self, deadline: float | None, max_log_files: int | None) -> None:
        final = deadline is not None
        if not self._startup_sent:
            self._send_startup(deadline, final)
        self.queue.put(Payload(time.time(), encode(self.sync_payload())))
        self._send_queue(deadline, final)
        self.request_logger.spool()
        self.request_logger.rotate()
        self._upload_logs(deadline, max_log_files)

    def _wait(self, seconds: float) -> bool:
        return self._stop.wait(seconds)

    @staticmethod
    def _no_retry(seconds: float) -> bool:
        return True

    def startup_payload(self) -> dict[str, Any]:
        ids = {"instance_uuid": self.instance_uuid, "message_uuid": str(uuid.uuid4())}
        return {**ids, **self._startup_data()}

    def sync_payload(self) -> dict[str, Any]:
        """Take the aggregates since the last sync as a `/sync` payload."""
        return {
            "instance_uuid": self.instance_uuid,
            "message_uuid": str(uuid.uuid4()),
            "timestamp": time.time(),
            "requests": self.requests.take(),
            "validation_errors": [],
            "server_errors": self.server_errors.take(),
            "consumers": self.consumers.take_updated(),
            "resources": self._resources.sample(),
        }

    def _send_startup(self, deadline: float | None, final: bool) -> None:
        if self._startup is None:
            self._startup = encode(self.startup_payload())
        wait = self._no_retry if final else self._wait
        outcome = self.hub.send_json("/startup", self._startup, deadline, wait)
        if outcome is DeliveryOutcome.DISABLED:
            self._disable()
        elif outcome is not DeliveryOutcome.RETRY:
            self._startup_sent = True
            self._startup = None

    def _send_queue(self, deadline: float | None, final: bool) -> None:
        self.queue.expire()
        sent = 0
        while self.enabled and (payload := self.queue.peek()) is not None:
            if sent and not final and self._stop.wait(random.uniform(0.1, 0.5)):
                return  # stopping: the final flush sends the rest
            wait = self._no_retry if final else self._wait
            outcome = self.hub.send_json("/sync", payload.body, deadline, wait)
            if outcome is DeliveryOutcome.RETRY:
                return  # kept at the front; the next cycle tries again
            self.queue.remove_oldest()
            if outcome is DeliveryOutcome.DISABLED:
                self._disable()
            sent += 1

    def _upload_logs(self, deadline: float | None, limit: int | None) -> None:
        files = self.request_logger.files
        count = 0
        while self.enabled and files and (limit is None or count < limit):
            log_file = files[0]
            response = self.hub.post(f"/log?uuid={log_file.uuid}", log_file.read(), None, deadline)
            if response is None:
                return
            if response.status == 402 and response.headers.get("Retry-After", "").strip().isdigit():
                self.request_logger.suspend(int(response.headers["Retry-After"]))
                return
            outcome = classify(response)
            if outcome is DeliveryOutcome.RETRY:
                return
            files.popleft()
            log_file.delete()
            if outcome is DeliveryOutcome.DISABLED:
                self._disable()
            count += 1

    def _disable(self) -> None:
        if self.enabled:
            logger.error(
                "Apitally hub answered 404 for client_id %r: this client stops sending", self.config.client_id
            )
        self.enabled = False
        self._stop.set()
        self.request_logger.clear()


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork_in_child()


def _shutdown_all() -> None:
    # One deadline for all clients: the workers flush in parallel, the exit waits for them once.
    clients = list(_clients)
    deadline = time.monotonic() + EXIT_FLUSH_SECONDS
    for client in clients:
        client._stop.set()
    for client in clients:
        try:
            client._finish(deadline)
        except Exception as exc:  # the exit of the host must go on
            logger.debug("Apitally shutdown failed: %r", exc)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown_all)
