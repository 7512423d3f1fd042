"""The invariant every fault test checks afterwards: the books explain APIXO's bill.

The engine (standing in for APIXO) bills $0.01 per task it accepts, and says how much is
left through APIXO's balance endpoint; the app's ledger must account for every cent:

    user charges <= billed <= user charges + operator costs

User charges are the ledger's `charge` rows (one per job, for the taskId it follows).
Operator costs (OperatorCost) are the submits whose outcome was unknown and were sent
again: each may or may not have become a task, so they explain any difference. With no
unknown submit the two ends meet: charges equal the engine's bill to the cent.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import Sum

from jobs import apixo
from jobs.models import Charge, OperatorCost

# The engine's opening balance (apixo_engine.config.DEFAULT_BALANCE) unless a test set one.
OPENING_BALANCE = Decimal(os.environ.get("ENGINE_BALANCE", "100.00"))


@dataclass(frozen=True)
class Books:
    accepted: int  # tasks the engine accepted and billed
    user_cents: int  # the ledger's charges
    operator_cents: int  # possible charges no user pays


def billed_cents() -> int:
    """What the engine (settings.APIXO_BASE_URL, as the test process sees it) has billed."""
    return int((OPENING_BALANCE - apixo.get_balance()) * 100)


def assert_books_balance(engine_dir: Path | None = None) -> Books:
    """Assert the invariant above. With the engine's data dir (the `engine` fixture's
    tmp_path / "engine"), also that every charge follows a task the engine has."""
    billed = billed_cents()
    charges = Charge.objects.filter(kind=Charge.Kind.CHARGE)
    user_cents = int(charges.aggregate(s=Sum("amount_cents"))["s"] or 0)
    operator_cents = int(OperatorCost.objects.aggregate(s=Sum("amount_cents"))["s"] or 0)
    books = Books(billed // settings.PRICE_CENTS, user_cents, operator_cents)
    assert user_cents <= billed <= user_cents + operator_cents, books
    if engine_dir is not None:
        db = engine_dir / "engine.sqlite3"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            tasks = {row[0] for row in conn.execute("SELECT task_id FROM tasks")}
        assert len(tasks) == books.accepted, (tasks, books)
        charged = set(charges.values_list("job__task_id", flat=True))
        assert charged <= tasks, f"charged for tasks the engine never had: {charged - tasks}"
    return books
