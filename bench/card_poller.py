"""A gallery page's live poll, run in a thread as the page runs it, for benchmarks that
measure when a card (not the job's row) first shows a state.

It logs in with Django's test client (in this process, against the run's database and
cache, the same view and 204 fast path as gunicorn serves), loads the gallery and then
requests what #poller's hx-get says, every `beat` s; with `soon`, also every `fast` s while
an in-flight card is near its learnt estimate (data-eta), as static/js/app.js does. Each
answer's cards are parsed; the first time a card comes back as success is noted.
"""

from __future__ import annotations

import html
import re
import threading
import time
from typing import Any

CARD = re.compile(r'<article id="job-([0-9a-f-]+)".*?data-state="(\w+)".*?</article>', re.S)
ETA = re.compile(r'data-eta="(\d+)"')
POLLER = re.compile(r'id="poller"[^>]*?hx-get="([^"]*)"')
# static/js/app.js: fast from SOON_BEFORE s before a card's estimate to SOON_AFTER s after.
SOON_BEFORE, SOON_AFTER = 4.0, 20.0


class CardPoller(threading.Thread):
    def __init__(self, user: Any, *, soon: bool, f: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.user, self.soon, self.f = user, soon, f
        self.beat, self.fast = 2.0 * f, 0.5 * f
        self.stop = threading.Event()
        self.success_at: dict[str, float] = {}  # job code -> when its card first said success
        self.etas: dict[str, float] = {}  # in-flight cards' data-eta
        self.polls: list[float] = []  # when each poll went out
        self.errors = 0

    def _read(self, body: str, when: float) -> None:
        for code, state, block in ((m[1], m[2], m[0]) for m in CARD.finditer(body)):
            eta = ETA.search(block)
            if eta and state in ("queued", "submitting", "pending", "processing"):
                self.etas[code] = float(eta[1])
            else:
                self.etas.pop(code, None)
            if state == "success":
                self.success_at.setdefault(code, when)

    def _near(self, now: float) -> bool:
        f = self.f
        return any(-SOON_AFTER * f <= eta - now <= SOON_BEFORE * f for eta in self.etas.values())

    def run(self) -> None:
        from django.db import connection
        from django.test import Client

        client = Client()
        client.force_login(self.user)
        page = client.get("/").content.decode()
        self._read(page, time.time())
        url = html.unescape(POLLER.search(page)[1])  # type: ignore[index]
        last = time.time()
        while not self.stop.is_set():
            now = time.time()
            gap = self.fast if self.soon and self._near(now) else self.beat
            if now - last < gap:
                time.sleep(0.02)
                continue
            last = now
            self.polls.append(now)
            try:
                r = client.get(url)
            except Exception:  # a poll that failed is retried at the next beat, as htmx does
                self.errors += 1
                continue
            if r.status_code == 200:
                body = r.content.decode()
                self._read(body, time.time())
                if found := POLLER.search(body):
                    url = html.unescape(found[1])
        connection.close()

    def polls_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.polls)
