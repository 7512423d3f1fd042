"""Two members of a team, each in a browser of their own, watch the same gallery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import card, log_in, submit
from tests.conftest import add_member, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
DONE = 60_000


def _work_in(page: Page, team_name: str) -> None:
    page.select_option("#context-switcher select[name=team]", label=team_name)
    with page.expect_navigation():  # only the button switches (WCAG 3.2.2)
        page.click("#context-switcher button")
    expect(page.locator("#context-switcher select[name=team] option:checked")).to_have_text(
        team_name
    )


def test_a_teammate_sees_my_image_arrive_and_finish_live(
    open_page: Callable[[], Page], worker: Any, engine: str
) -> None:
    owner, member = make_user("olga"), make_user("pete")
    team = make_team(owner, "Studio")
    add_member(team, member)

    mine, theirs = open_page(), open_page()
    log_in(mine, "olga")
    _work_in(mine, "Studio")
    log_in(theirs, "pete")
    _work_in(theirs, "Studio")
    theirs.evaluate("window.__marker = 1")  # proves their page never reloads

    submit(mine, urls=[f"{engine}/samples/landscape.jpg?engine_delay=2"])

    # The teammate's idle gallery hears of the new card, then of its success, unreloaded.
    arrived = card(theirs, "landscape.jpg")
    expect(arrived).to_have_count(1, timeout=DONE)
    expect(arrived).to_contain_text("olga")
    expect(arrived.locator(".badge")).to_have_attribute("data-state", "success", timeout=DONE)
    assert theirs.evaluate("window.__marker") == 1
    expect(mine.locator("#spend")).to_contain_text("$0.01")

    # I delete it; it leaves the teammate's open gallery too, still unreloaded.
    mine.reload()
    mine.get_by_label("Select landscape.jpg").check()
    mine.once("dialog", lambda dialog: dialog.accept())
    with mine.expect_navigation():
        mine.click("#selection button[value=delete]")
    expect(card(mine, "landscape.jpg")).to_have_count(0)
    expect(arrived).to_have_count(0, timeout=DONE)
    assert theirs.evaluate("window.__marker") == 1


def test_an_outsider_cannot_see_the_team_gallery(open_page: Callable[[], Page]) -> None:
    owner = make_user("quinn")
    make_team(owner, "Hidden")
    make_user("rosa")
    page = open_page()
    log_in(page, "rosa")
    expect(page.locator("#context-switcher")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Hidden")
