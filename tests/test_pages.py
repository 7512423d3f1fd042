"""What the pages say: one message for a refused login, the ledger's links to its jobs, the
spend chart's axis and empty state, budget help that knows the cap, and named card links."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from jobs.models import Job
from spend import services as spend
from tests.conftest import make_job, make_team, make_user, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def _charged(user: User, name: str = "rocket.png") -> Job:
    """A job APIXO accepted (its ledger row written as the worker writes it), then done."""
    assert user.budget.reserve(1)
    job = make_job(user, Job.State.SUBMITTING, source_name=name)
    assert job.accept("task-1")
    assert job.move((Job.State.PENDING,), Job.State.SUCCESS)
    return job


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- the login page -------------------------------------------------------------------------


def _wrong_password(client: Client) -> str:
    make_user("lena")
    r = client.post(reverse("login"), {"username": "lena", "password": "not-it"})
    assert r.status_code == 200
    return r.content.decode()


def test_a_wrong_password_shows_one_message(client: Client, settings: Any) -> None:
    page = _wrong_password(client)
    assert page.count("That username and password don't match.") == 1
    assert "Please enter a correct username" not in page  # Django's own, not as well
    assert page.count('class="errors"') == 1


def test_the_confirm_your_email_hint_shows_only_where_verification_is_on(
    client: Client, settings: Any
) -> None:
    settings.SIGNUP_VERIFY_EMAIL = False
    assert "Confirm your email first" not in _wrong_password(client)
    settings.SIGNUP_VERIFY_EMAIL = True
    page = client.post(reverse("login"), {"username": "lena", "password": "x"}).content.decode()
    assert "Confirm your email first" in page


def test_the_login_page_says_what_the_app_does(client: Client, settings: Any) -> None:
    page = _text(client.get(reverse("login")).content.decode())
    assert (
        f"{settings.SITE_NAME} Upscale your photos to 2k, 4k or 8k with AI, $0.01 an image." in page
    )


# --- the ledger on the spend page -------------------------------------------------------------


def test_each_ledger_row_links_to_its_job_with_name_and_state(
    staff_client: Client, alice: User
) -> None:
    job = _charged(alice)
    page = staff_client.get(reverse("spend")).content.decode()
    row = page.split('id="recent-charges"')[1].split("</table>")[0]
    link = reverse("admin:jobs_job_change", args=[job.pk])
    assert f'<a href="{link}">rocket.png</a>' in row
    assert ">Success</span>" in row


def test_a_deleted_job_in_the_ledger_says_so_without_a_link(
    staff_client: Client, alice: User
) -> None:
    job = _charged(alice)
    code = str(job.code)
    job.delete()
    row = staff_client.get(reverse("spend")).content.decode().split('id="recent-charges"')[1]
    row = row.split("</table>")[0]
    assert "deleted job" in row and code in row
    assert "/admin/jobs/job/" not in row


# --- the spend chart ---------------------------------------------------------------------------


def test_an_empty_range_says_so_instead_of_drawing_a_chart(staff_client: Client) -> None:
    page = staff_client.get(reverse("spend")).content.decode()
    assert "No spend in this range." in page
    assert "<svg" not in page


def test_the_chart_has_an_axis_with_values_and_dates(staff_client: Client, alice: User) -> None:
    _charged(alice, "a.png")
    _charged(alice, "b.png")
    r = staff_client.get(reverse("spend"))
    page = r.content.decode()
    svg = page.split("<svg")[1].split("</svg>")[0]
    y_ticks = re.findall(r'class="tick y-tick"[^>]*>([^<]+)<', svg)
    assert y_ticks == ["$0.00", "$0.01", "$0.02"]
    chart = r.context["chart"]
    x_ticks = re.findall(r'class="tick x-tick"[^>]*>([^<]+)<', svg)
    assert x_ticks == [chart.bars[0].label, chart.bars[15].label, chart.bars[-1].label]
    # The tallest bar's value is written on the chart, not only in a hover title.
    assert re.findall(r'class="value"[^>]*>([^<]+)<', svg) == ["$0.02"]
    assert "No spend in this range." not in page
    # And every day with spend is in a table too.
    table = page.split('id="chart-values"')[1].split("</table>")[0]
    assert _text(table).count("$0.02") == 1


def test_a_few_wide_bars_each_carry_their_value() -> None:
    chart = spend.Chart(
        [spend.Bar("2026-01", 3, 72, 100, 60, 100), spend.Bar("2026-02", 0, 134, 200, 60, 0)],
        3,
        "month",
        left=72,
    )
    assert [b.label for b in chart.labelled] == ["2026-01"]
    assert not chart.empty
    assert [t.cents for t in chart.ticks] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (1, [0, 1]),
        (4, [0, 1, 2, 3, 4]),
        (7, [0, 2, 4, 6]),
        (30, [0, 10, 20, 30]),
        (1234, [0, 500, 1000]),
    ],
)
def test_the_y_axis_steps_evenly_in_round_amounts(top: int, ticks: list[int]) -> None:
    chart = spend.Chart([spend.Bar("2026-01", top, 72, 0, 60, 178)], top, "month", left=72)
    assert [t.cents for t in chart.ticks] == ticks
    assert chart.ticks[0].y == chart.baseline  # zero on the baseline ...
    gaps = [a.y - b.y for a, b in zip(chart.ticks, chart.ticks[1:], strict=False)]
    assert max(gaps) - min(gaps) < 0.05  # ... and the lines evenly apart


# --- help text where a cap applies ------------------------------------------------------------


def test_a_capped_team_budget_never_says_empty_means_unlimited(
    alice: User, alice_client: Client
) -> None:
    team = make_team(alice, quota=500)  # staff capped it at $5.00
    page = html.unescape(alice_client.get(team.get_absolute_url()).content.decode())
    assert "Empty means unlimited" not in page
    assert "up to $5.00: the most the site's admins allow this team" in page


def test_an_uncapped_team_budget_may_be_left_empty(alice: User, alice_client: Client) -> None:
    team = make_team(alice, quota=None)
    assert "Empty means unlimited" in alice_client.get(team.get_absolute_url()).content.decode()


# --- card links say which image ---------------------------------------------------------------


def test_card_links_name_their_image(alice: User, alice_client: Client) -> None:
    with_files(make_job(alice, Job.State.SUCCESS, source_name="rocket.png", resolution="4k"))
    card = alice_client.get("/").content.decode().split('aria-label="rocket.png"')[1]
    card = card.split("</article>")[0]
    links = {
        _text(m).strip() for m in re.findall(r"<a [^>]*>(.*?)</a>", card, re.S) if "<img" not in m
    }
    assert "Download rocket_4k.jpg" in links
    assert "Details of rocket.png" in links
    assert 'aria-label="Open rocket.png"' in card
    # A card without a picture yet: the link's name starts the same way, then its state.
    make_job(alice, Job.State.QUEUED, source_name="waiting.jpg")
    card = alice_client.get("/").content.decode().split('aria-label="waiting.jpg"')[1]
    thumb = re.search(r'<a class="thumb"[^>]*>(.*?)</a>', card, re.S)
    assert thumb and _text(thumb.group(1)).strip() == "Open waiting.jpg: Queued"


def test_card_buttons_name_their_image(alice: User, alice_client: Client) -> None:
    """Several failed cards must not read as identical Retry buttons to a screen reader."""
    make_job(alice, Job.State.FAILED, source_name="moon.png", fail_code="Timeout")
    card = alice_client.get("/").content.decode().split('aria-label="moon.png"')[1]
    card = card.split("</article>")[0]
    buttons = {_text(m).strip() for m in re.findall(r"<button[^>]*>(.*?)</button>", card, re.S)}
    assert "Retry (new job, $0.01) moon.png" in buttons


# --- the context switcher ---------------------------------------------------------------------


def test_the_switcher_changes_context_only_through_its_button(
    alice: User, alice_client: Client
) -> None:
    team = make_team(alice, "Northwind")
    page = alice_client.get("/").content.decode()
    switcher = page.split('id="context-switcher"')[1].split("</form>")[0]
    assert "data-autosubmit" not in switcher and ">Switch</button>" in switcher
    # Without JavaScript the same form posts, and the gallery is the team's.
    r = alice_client.post(reverse("switch_context"), {"team": team.code}, follow=True)
    assert "Upscale images for Northwind" in r.content.decode()


# --- templates render whole ------------------------------------------------------------------


def test_the_gallery_shows_no_template_syntax(alice: User, alice_client: Client) -> None:
    """The gallery with a live card and a finished one, personal and a team's: a multi-line
    {# #} comment (Django prints those) once showed its text under every gallery."""
    make_job(alice, Job.State.PENDING)
    with_files(make_job(alice, Job.State.SUCCESS))
    team = make_team(alice)
    for url in ("/", f"/?team={team.code}", reverse("team_detail", args=[team.code])):
        body = alice_client.get(url, follow=True).content.decode()
        assert not [s for s in ("{#", "#}", "{%", "{{") if s in body], url


def test_no_template_has_a_comment_spanning_lines() -> None:
    """{# #} is one line only in Django's templates; over two lines it is page text."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    broken = [
        f"{path.relative_to(root)}:{n}"
        for path in root.glob("**/templates/**/*.html")
        if ".venv" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert broken == []
