"""The engine's own storage: one SQLite file (tasks, balance, 429 counters)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

PENDING = "pending"
PROCESSING = "processing"
SUCCESS = "success"
FAILED = "failed"
UNFINISHED = (PENDING, PROCESSING)

# callback_state values
CALLBACK_NONE = "none"
CALLBACK_PENDING = "pending"
CALLBACK_DELIVERED = "delivered"
CALLBACK_GAVE_UP = "gave_up"

TASK_PRICE = Decimal("0.01")
CENT = Decimal("0.01")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    image_url TEXT NOT NULL,
    resolution TEXT NOT NULL,
    output_format TEXT NOT NULL,
    request_type TEXT NOT NULL,
    callback_url TEXT,
    callback_state TEXT NOT NULL DEFAULT 'none',
    result_json TEXT,
    fail_code TEXT,
    fail_msg TEXT,
    create_time INTEGER NOT NULL,
    start_time INTEGER,
    complete_time INTEGER,
    cost_time INTEGER,
    status_429_left INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, create_time);
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    balance TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submit_429 (
    image_url TEXT PRIMARY KEY,
    answered INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS injected_failures (
    image_url TEXT PRIMARY KEY,
    failed INTEGER NOT NULL
);
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_task_id() -> str:
    return f"task_{secrets.token_hex(16)}"


@dataclass(frozen=True)
class Task:
    task_id: str
    state: str
    image_url: str
    resolution: str
    output_format: str
    request_type: str
    callback_url: str | None
    callback_state: str
    result_json: str | None
    fail_code: str | None
    fail_msg: str | None
    create_time: int
    start_time: int | None
    complete_time: int | None
    cost_time: int | None
    status_429_left: int

    @property
    def finished(self) -> bool:
        return self.state not in UNFINISHED

    def public_data(self) -> dict[str, Any]:
        """The `data` object of statusTask answers and callbacks."""
        return {
            "taskId": self.task_id,
            "state": self.state,
            "resultJson": self.result_json if self.state == SUCCESS else None,
            "failCode": self.fail_code if self.state == FAILED else None,
            "failMsg": self.fail_msg if self.state == FAILED else None,
            "createTime": self.create_time,
            "completeTime": self.complete_time,
            "costTime": self.cost_time,
        }


class InsufficientBalance(Exception):
    pass


class Store:
    """Thread-safe access to the SQLite file (one connection, one lock per process)."""

    def __init__(self, path: Path, initial_balance: Decimal) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO account (id, balance) VALUES (1, ?)",
                (str(initial_balance.quantize(CENT)),),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- account -------------------------------------------------------------------------

    def balance(self) -> Decimal:
        with self._lock:
            row = self._db.execute("SELECT balance FROM account WHERE id = 1").fetchone()
        return Decimal(row["balance"])

    # --- tasks ---------------------------------------------------------------------------

    def create_task(
        self,
        *,
        image_url: str,
        resolution: str,
        output_format: str,
        request_type: str = "async",
        callback_url: str | None = None,
        status_429: int = 0,
        charge: Decimal = TASK_PRICE,
    ) -> Task:
        """Charge the account and insert a pending task, atomically."""
        task_id = new_task_id()
        with self._transaction() as db:
            row = db.execute("SELECT balance FROM account WHERE id = 1").fetchone()
            balance = Decimal(row["balance"])
            if balance < charge:
                raise InsufficientBalance(str(balance))
            db.execute(
                "UPDATE account SET balance = ? WHERE id = 1",
                (str((balance - charge).quantize(CENT)),),
            )
            db.execute(
                "INSERT INTO tasks (task_id, state, image_url, resolution, output_format,"
                " request_type, callback_url, create_time, status_429_left)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task_id,
                    PENDING,
                    image_url,
                    resolution,
                    output_format,
                    request_type,
                    callback_url,
                    now_ms(),
                    max(0, status_429),
                ),
            )
        task = self.get(task_id)
        assert task is not None
        return task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return _task(row) if row else None

    def unfinished(self) -> list[Task]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE state IN (?, ?) ORDER BY create_time, task_id",
                UNFINISHED,
            ).fetchall()
        return [_task(row) for row in rows]

    def undelivered_callbacks(self) -> list[Task]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE callback_state = ? ORDER BY complete_time",
                (CALLBACK_PENDING,),
            ).fetchall()
        return [_task(row) for row in rows]

    def mark_processing(self, task_id: str) -> Task | None:
        """pending/processing -> processing (fresh start time); None if already finished."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET state = ?, start_time = ? WHERE task_id = ? AND state IN (?, ?)",
                (PROCESSING, now_ms(), task_id, *UNFINISHED),
            )
        return self.get(task_id) if cur.rowcount else None

    def finish(
        self,
        task_id: str,
        *,
        result_json: str | None = None,
        fail_code: str | None = None,
        fail_msg: str | None = None,
    ) -> Task | None:
        """Record the outcome once; costTime counts from the processing start."""
        state = FAILED if fail_code is not None else SUCCESS
        done = now_ms()
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET state = ?, result_json = ?, fail_code = ?, fail_msg = ?,"
                " complete_time = ?, cost_time = MAX(0, ? - COALESCE(start_time, create_time)),"
                " callback_state = CASE WHEN callback_url IS NULL THEN ? ELSE ? END"
                " WHERE task_id = ? AND state IN (?, ?)",
                (
                    state,
                    result_json if state == SUCCESS else None,
                    fail_code,
                    fail_msg,
                    done,
                    done,
                    CALLBACK_NONE,
                    CALLBACK_PENDING,
                    task_id,
                    *UNFINISHED,
                ),
            )
        return self.get(task_id) if cur.rowcount else None

    def set_callback_state(self, task_id: str, state: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE tasks SET callback_state = ? WHERE task_id = ?", (state, task_id)
            )

    # --- injected 429s ---------------------------------------------------------------------

    def take_submit_429(self, image_url: str, limit: int) -> bool:
        """True (and count it) while fewer than `limit` 429s were answered for this URL."""
        if limit <= 0:
            return False
        with self._transaction() as db:
            row = db.execute(
                "SELECT answered FROM submit_429 WHERE image_url = ?", (image_url,)
            ).fetchone()
            answered = row["answered"] if row else 0
            if answered >= limit:
                return False
            db.execute(
                "INSERT INTO submit_429 (image_url, answered) VALUES (?, 1)"
                " ON CONFLICT (image_url) DO UPDATE SET answered = answered + 1",
                (image_url,),
            )
        return True

    def take_failure(self, image_url: str, limit: int) -> bool:
        """True (and count it) while fewer than `limit` tasks of this URL were failed."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT failed FROM injected_failures WHERE image_url = ?", (image_url,)
            ).fetchone()
            if row and row["failed"] >= limit:
                return False
            db.execute(
                "INSERT INTO injected_failures (image_url, failed) VALUES (?, 1)"
                " ON CONFLICT (image_url) DO UPDATE SET failed = failed + 1",
                (image_url,),
            )
        return True

    def take_status_429(self, task_id: str) -> bool:
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET status_429_left = status_429_left - 1"
                " WHERE task_id = ? AND status_429_left > 0",
                (task_id,),
            )
        return cur.rowcount > 0


def _task(row: sqlite3.Row) -> Task:
    return Task(**{f.name: row[f.name] for f in fields(Task)})
