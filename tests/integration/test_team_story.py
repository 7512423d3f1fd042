"""The team story with real parts, as the issue's "done means" tells it: create a team,
invite a second account, both see the same gallery update live, the budget stops the next
submission with a clear message, and an admin sees the spend per member and exports it."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from jobs.models import Job, Team
from tests.conftest import make_user

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _submit(client: Client, team: Team, url: str) -> Any:
    data = {
        "urls": url,
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
        "team": str(team.code),
    }
    return client.post("/jobs/", data)


def test_a_team_shares_a_live_gallery_and_a_budget(
    worker: Any, engine: str, wait_until_done: Any, mailoutbox: list[Any]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    root = make_user("root")
    root.is_staff = True
    root.save()
    ann, ben = _client_for(alice), _client_for(bob)

    # Alice creates a team and invites Bob by email.
    ann.post("/teams/", {"name": "Studio"})
    team = Team.objects.get(name="Studio")
    ann.post(f"/teams/{team.code}/invite/", {"email": bob.email, "role": "member"})
    link = re.search(r"http://\S+(/invite/\S+/)", mailoutbox[-1].body)
    assert link, mailoutbox[-1].body

    # Bob follows the link and is working in the team; Alice gives it a 2-image budget.
    r = ben.post(link.group(1), follow=True)
    assert "Welcome to Studio!" in r.content.decode()
    ann.post(f"/teams/{team.code}/budget/", {"period": "monthly", "unit": "images", "amount": "2"})

    # Bob submits; Alice's live poll of the team gallery shows his card as it goes.
    poll = f"/gallery/poll/?since=1&oldest=0&team={team.code}"
    assert _submit(ben, team, f"{engine}/samples/landscape.jpg").status_code == 302
    first = ann.get(poll).content.decode()
    assert "by bob" in first and 'hx-swap-oob="afterbegin:#job-grid"' in first
    [job] = wait_until_done(Job.objects.filter(team=team))
    assert job.state == "success" and job.user == bob
    since = re.search(r"since=(\d+)", first)
    assert since
    done = ann.get(f"/gallery/poll/?since={since.group(1)}&oldest=0&team={team.code}")
    assert "state-success" in done.content.decode()
    assert "Studio: spent 1 image of 2 images this month" in done.content.decode()

    # Alice takes the last image of the budget (another picture: the same one would be
    # reused for free); Bob's next submission is refused, clearly.
    assert _submit(ann, team, f"{engine}/samples/logo.png").status_code == 302
    refused = _submit(ben, team, f"{engine}/samples/landscape.jpg")
    assert refused.status_code == 400
    assert "only $0.00 is left of Studio&#x27;s budget this month" in refused.content.decode()
    wait_until_done(Job.objects.filter(team=team))

    # The admin sees the spend per member and exports it.
    admin = _client_for(root)
    page = admin.get("/spend/")
    per_user = {row["name"]: row["cents"] for row in page.context["per_user"]}
    assert per_user == {"alice": 1, "bob": 1}
    assert [(row["name"], row["cents"]) for row in page.context["per_team"]] == [("Studio", 2)]
    export = admin.get("/spend/ledger.csv")
    rows = list(csv.DictReader(io.StringIO(export.getvalue().decode())))
    assert sorted((row["user"], row["team"], row["amount_cents"]) for row in rows) == [
        ("alice", "Studio", "1"),
        ("bob", "Studio", "1"),
    ]
