"""Heartbeats of our own for the RQ worker and the cron process, and a worker that outlives
a Redis outage.

RQ's worker heartbeat can't tell `/healthz` the truth quickly: an idle worker sends one
every 405 s, its key lives 480 s after that, and after a FLUSHALL (or a Redis restart
without persistence) the heartbeat refreshes the worker's hash but never puts it back
into the set `Worker.all()` reads. So each process also writes its name and the time into
a sorted set of its own every BEAT_EVERY s, from a thread that does nothing else. A ZADD
recreates the set after a flush, and a member older than MAX_AGE is a process that died.

RQ's worker also quits on most Redis errors (only its blocking dequeue retries), and
`make run` stops everything when one process exits. `Worker.work` below waits for Redis
to come back (with backoff) and starts RQ's work loop again, as a supervisor would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

import redis
import rq
from rq.exceptions import StopRequested

logger = logging.getLogger(__name__)

BEAT_EVERY = 10.0
# Three missed beats: a process that died is reported within MAX_AGE + BEAT_EVERY s.
MAX_AGE = 30.0
# Waiting for Redis: 1, 2, 4, ... s between attempts, never more than this.
RECONNECT_MAX_WAIT = 15.0
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def key(role: str) -> str:
    return f"upscaler:heartbeats:{role}"


def beat(conn: redis.Redis, role: str, name: str) -> None:
    """Record that process `name` (a worker of a queue, or the cron process) is alive."""
    with conn.pipeline() as p:
        p.zadd(key(role), {name: time.time()})
        # Drop the dead, and let a deployment that stopped altogether leave nothing behind.
        p.zremrangebyscore(key(role), "-inf", time.time() - 10 * MAX_AGE)
        p.expire(key(role), int(10 * MAX_AGE))
        p.execute()


def alive(conn: redis.Redis, role: str) -> list[str]:
    """The names of the processes in `role` that sent a heartbeat in the last MAX_AGE s."""
    names = conn.zrangebyscore(key(role), time.time() - MAX_AGE, "+inf")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def forget(conn: redis.Redis, role: str, name: str) -> None:
    """A process that stops cleanly says so, rather than being reported dead MAX_AGE s on."""
    with contextlib.suppress(*REDIS_ERRORS):
        conn.zrem(key(role), name)


class Beater:
    """A daemon thread that calls beat() every BEAT_EVERY s until stopped, through Redis
    outages (a failed beat is logged once per outage and tried again next time)."""

    def __init__(self, conn: redis.Redis, roles: list[str], name: str) -> None:
        self.conn, self.roles, self.name = conn, roles, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Beater:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(BEAT_EVERY)
        for role in self.roles:
            forget(self.conn, role, self.name)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                for role in self.roles:
                    beat(self.conn, role, self.name)
                if failing:
                    logger.info("Heartbeat of %s: Redis is back", self.name)
                failing = False
            except REDIS_ERRORS as e:
                if not failing:
                    logger.warning("Heartbeat of %s: Redis unreachable: %s", self.name, e)
                failing = True
            self._stop.wait(BEAT_EVERY)


# RQ's scheduler refreshes its lock to a TTL of its interval + 60 s (61 s) every second; a
# lock this many seconds short of that belongs to a scheduler that stopped (kill -9).
SCHEDULER_SILENT_AFTER = 20.0
# Delete a lock whose TTL fell below ARGV[1], atomically: a lock just taken or refreshed
# by a live scheduler is never removed.
_CLEAR_STALE_LOCK = """
local ttl = redis.call('ttl', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[1]) then
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""


def clear_stale_scheduler_lock(conn: redis.Redis, queue_name: str, interval: float = 1) -> bool:
    """Remove RQ's scheduler lock for queue_name if its holder stopped refreshing it
    SCHEDULER_SILENT_AFTER s ago; return True if it did.

    A killed worker's scheduler holds the lock for 61 s after its death, and until it
    expires no other scheduler may move delayed work (every poll, every backoff retry)
    onto the queue. A live scheduler refreshes it every `interval` s, so a lock short of
    its full TTL by 20 s has nobody behind it: taking over is safe (and if we were wrong,
    RQ's scheduler notices on its next heartbeat that the lock is no longer its own).
    """
    from rq.scheduler import RQScheduler

    floor = int(interval + 60 - SCHEDULER_SILENT_AFTER)
    lock = RQScheduler.get_locking_key(queue_name)
    return bool(conn.eval(_CLEAR_STALE_LOCK, 1, lock, floor))


def worker_role(queue_name: str) -> str:
    return f"worker:{queue_name}"


def wait_for_redis(conn: redis.Redis, stopping: Any, what: str) -> bool:
    """Block until Redis answers PING (True), or stopping() turns true (False).

    Waits 1, 2, 4, ... s between attempts, at most RECONNECT_MAX_WAIT.
    """
    wait = 1.0
    while not stopping():
        try:
            conn.ping()
            logger.info("%s: Redis is back, carrying on", what)
            return True
        except REDIS_ERRORS as e:
            logger.warning("%s: Redis unreachable (%s); trying again in %.0f s", what, e, wait)
        time.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX_WAIT)
    return False


class Worker(rq.Worker):
    """RQ's worker, plus a heartbeat thread and a work loop that survives Redis outages.

    Used by every `manage.py rqworker` through settings.RQ["WORKER_CLASS"].
    """

    _stopping = False
    # RQ's own wait between reconnect attempts while idle (it allows 60 s).
    max_connection_wait_time = RECONNECT_MAX_WAIT

    @property
    def dequeue_timeout(self) -> int:
        # Back round the loop every 20 s even when idle (RQ: its TTL less 15 s, 405 s), so
        # a scheduler that a Redis outage killed is started again soon (heartbeat below).
        return min(int(super().dequeue_timeout), 20)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.is_horse:
            self._revive_scheduler()

    def _revive_scheduler(self) -> None:
        """Start RQ's scheduler if it isn't running here and no live scheduler holds its
        lock (a dead one's lock is cleared: clear_stale_scheduler_lock).

        RQ checks this only every 10 minutes (its maintenance interval); until then, work
        scheduled with enqueue_in (every poll) would wait for the reconciler.
        """
        scheduler = self.scheduler
        if scheduler is None or self._stopping or self._stop_requested:
            return  # a stop request stops the scheduler first: it must stay stopped
        if scheduler._process and scheduler._process.is_alive():
            return
        try:
            for name in self.queue_names():
                if clear_stale_scheduler_lock(self.connection, name, scheduler.interval):
                    logger.warning(
                        "Worker %s: the scheduler lock of %s had no live holder; taking over",
                        self.name,
                        name,
                    )
            scheduler.acquire_locks(auto_start=True)
        except REDIS_ERRORS as e:
            logger.warning("Worker %s: scheduler not restarted: %s", self.name, e)

    def request_stop(self, signum: Any, frame: Any) -> None:
        self._stopping = True
        super().request_stop(signum, frame)

    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
        """Run RQ's work loop; when it ends for any reason but a stop request (a Redis
        error, mostly), wait for Redis and run it again. Burst mode is left as RQ has it."""
        if burst or kwargs.get("max_jobs") or kwargs.get("max_idle_time"):
            return bool(super().work(burst, *args, **kwargs))
        roles = [worker_role(name) for name in self.queue_names()]
        beater = Beater(self.connection, roles, self.name).start()
        worked = False
        try:
            while True:
                try:
                    worked = bool(super().work(burst, *args, **kwargs)) or worked
                except REDIS_ERRORS as e:
                    # RQ's teardown (register_death) needs Redis too: this is where it lands.
                    logger.warning("Worker %s: lost Redis: %s", self.name, e)
                if self._stopping or self._stop_requested:
                    return worked
                if not self._recover():
                    return worked
        finally:
            beater.stop()

    def _recover(self) -> bool:
        """Get ready to start the work loop again. Return False if asked to stop meanwhile."""
        with contextlib.suppress(Exception):
            self.unsubscribe()  # RQ's teardown stops before this when Redis is gone
        try:
            if self._horse_pid:
                # A job still running in a work horse finishes (its own timeouts bound it)
                # before another is taken.
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self._horse_pid, 0)
                self._horse_pid = 0
            time.sleep(1)  # an error that isn't Redis's must not spin the loop
            if not wait_for_redis(self.connection, lambda: self._stopping, f"Worker {self.name}"):
                return False
            # Mark the old registration dead so register_birth (same name) accepts us.
            with contextlib.suppress(*REDIS_ERRORS):
                self.register_death()
        except StopRequested:
            return False
        return True
