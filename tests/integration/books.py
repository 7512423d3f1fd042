"""The invariant every fault test checks afterwards: the books explain APIXO's bill.

The engine (standing in for APIXO) bills $0.01 per task it accepted and keeps its tasks in
its own SQLite file; the app's ledger must account for every one of them:

    user charges <= tasks accepted x 1 cent <= user charges + operator costs

User charges are the ledger's `charge` rows (one per job, for the taskId it follows).
Operator costs (OperatorCost) are the submits whose outcome was unknown and were sent
again: each may or may not have become a task, so they explain any difference. With no
unknown submit the two ends meet: charges equal the engine's tasks to the cent.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Sum

from jobs.models import Charge, OperatorCost


@dataclass(frozen=True)
class Books:
    accepted: int  # tasks the engine accepted (and billed)
    user_cents: int  # the ledger's charges
    operator_cents: int  # possible charges no user pays


def engine_task_ids(tmp_path: Path) -> set[str]:
    """The taskIds of every task the engine (the `engine` fixture's data dir) accepted."""
    db = tmp_path / "engine" / "engine.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return {row[0] for row in conn.execute("SELECT task_id FROM tasks")}


def assert_books_balance(tmp_path: Path) -> Books:
    """Assert the invariant above, and that every charge follows a task the engine has."""
    tasks = engine_task_ids(tmp_path)
    charges = Charge.objects.filter(kind=Charge.Kind.CHARGE)
    user_cents = int(charges.aggregate(s=Sum("amount_cents"))["s"] or 0)
    operator_cents = int(OperatorCost.objects.aggregate(s=Sum("amount_cents"))["s"] or 0)
    billed = len(tasks) * settings.PRICE_CENTS
    books = Books(len(tasks), user_cents, operator_cents)
    assert user_cents <= billed <= user_cents + operator_cents, books
    charged_tasks = set(charges.values_list("job__task_id", flat=True))
    assert charged_tasks <= tasks, (
        f"charged for tasks the engine never had: {charged_tasks - tasks}"
    )
    return books
