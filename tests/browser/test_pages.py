"""Pages that fit a phone and a keyboard: no sideways scroll at 390 and 320 px on any page,
a one-line header with a menu, a context switcher that waits for a choice, and a Copy button
for a new API token."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from api.models import ApiToken, WebhookDelivery, WebhookEndpoint
from jobs.models import Job, ShareLink
from spend import services as spend
from teams.services import invite
from tests.browser.support import log_in
from tests.conftest import add_member, make_job, make_team, make_team_job, make_user, with_files

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
PHONES = [390, 320]
LONG = "a-rather-long-file-name-taken-with-a-phone-20261203.jpg"


def _charged(job: Job) -> Job:
    """The job as the worker leaves it once APIXO accepted it (a ledger row), then done."""
    assert job.budget.reserve(1)
    Job.objects.filter(pk=job.pk).update(state=Job.State.SUBMITTING)
    job.refresh_from_db()
    assert job.accept(f"task-{uuid.uuid4().hex}")
    assert job.move((Job.State.PENDING,), Job.State.SUCCESS)
    job.refresh_from_db()
    return job


def _seed() -> dict[str, Any]:
    """A staff user with a team, teammates, invitations, tokens, a webhook, charges, a refund
    and a quota change: every page has its tables and long values."""
    wren = make_user("wren-the-staff-member-with-a-long-name")
    wren.is_staff = True
    wren.save()
    mate = make_user("teammate-with-a-rather-long-username")
    team = make_team(wren, "Northwind Trading Company Photography", quota=10_000)
    add_member(team, mate)
    done = _charged(with_files(make_job(wren, Job.State.QUEUED, source_name=LONG)))
    Job.objects.filter(pk=done.pk).update(result_width=2048, result_height=1536, result_bytes=9)
    make_job(wren, Job.State.FAILED, source_name="bad.png", fail_code="SensitiveContent")
    team_done = _charged(with_files(make_team_job(team, mate, Job.State.QUEUED, source_name=LONG)))
    spend.refund(team_done.charges.get(), wren, "The result came out blurry, sorry about that")
    spend.adjust_quota(mate.budget, 500, wren, "Raised for the spring catalogue shoot")
    invitation = invite(team, "someone.with.a.long.address@example-photography.org", "member", wren)
    ApiToken.issue(wren, "The nightly catalogue import script on the build server")
    endpoint = WebhookEndpoint.objects.create(
        user=wren, url="https://hooks.example-photography.org/upscaler/finished-jobs/callback"
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=uuid.uuid4(),
        event="job.succeeded",
        job=done,
        attempt=1,
        url=endpoint.url,
        error="Connection refused by hooks.example-photography.org:443 after 10 s",
        will_retry=True,
    )
    share = ShareLink.objects.create(job=done, created_by=wren)
    return {
        "user": wren,
        "team": team,
        "job": done,
        "invitation": invitation.get_absolute_url(),
        "share": share.get_absolute_url(),
    }


def _wider_than_screen(page: Page) -> int:
    """How many px the page scrolls sideways (0: it fits)."""
    page.wait_for_load_state()
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def _broken_words(page: Page) -> list[str]:
    """Short plain words (letters only, up to 12) that the page draws over two lines, as in
    "Befor" / "e": the phone layout lets long values (links, tokens, file names) break
    anywhere, and a label or button text must not break with them."""
    found: list[str] = page.evaluate(
        r"""() => {
            const out = [];
            const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                const el = n.parentElement;
                if (!el || ['SCRIPT', 'STYLE'].includes(el.tagName)) continue;
                let hidden = false;  // not shown, or visually hidden (a 1-px box, as the stacked tables' heads)
                for (let a = el; a && !hidden; a = a.parentElement) {
                    const box = a.getBoundingClientRect();
                    hidden = box.width < 4 || box.height < 4;
                }
                if (hidden) continue;
                for (const m of n.textContent.matchAll(/[A-Za-z]{2,12}/g)) {
                    const before = n.textContent[m.index - 1], after = n.textContent[m.index + m[0].length];
                    if ((before && /[\w.@/-]/.test(before)) || (after && /[\w.@/-]/.test(after))) continue;
                    const r = document.createRange();
                    r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
                    const tops = new Set([...r.getClientRects()].filter(b => b.width > 0).map(b => Math.round(b.top)));
                    if (tops.size > 1) out.push(m[0] + ' in ' + el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
                }
            }
            return out;
        }"""
    )
    return found


def _sticking_out(page: Page) -> list[str]:
    """The elements that reach past the screen's right edge, to say what to fix."""
    found: list[str] = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    return found


@pytest.mark.parametrize("width", PHONES)
def test_no_page_scrolls_sideways_on_a_phone(open_page: Callable[[], Page], width: int) -> None:
    seed = _seed()
    user: User = seed["user"]
    page = open_page()
    page.set_viewport_size({"width": width, "height": 800})
    visitor = open_page()
    visitor.set_viewport_size({"width": width, "height": 800})
    too_wide: dict[str, int] = {}
    broken: dict[str, list[str]] = {}
    for name, url in [
        ("login", "/accounts/login/"),
        ("sign-up", "/accounts/signup/"),
        ("password reset", "/accounts/password_reset/"),
        ("password reset sent", "/accounts/password_reset/done/"),
        ("password reset link", "/accounts/reset/MQ/bad-token/"),
        ("new confirmation link", "/accounts/verify/"),
        ("invitation", seed["invitation"]),
        ("share", seed["share"]),
    ]:
        visitor.goto(url)
        too_wide[name] = _wider_than_screen(visitor)
        broken[name] = _broken_words(visitor)
    log_in(page, user.username)
    pages = [
        ("gallery", "/"),
        ("job", seed["job"].get_absolute_url()),
        ("batch", f"/?batch={seed['job'].batch.code}"),
        ("share (logged in)", seed["share"]),
        ("teams", "/teams/"),
        ("team", seed["team"].get_absolute_url()),
        ("invitation (logged in)", seed["invitation"]),
        ("tokens and webhook", "/accounts/tokens/"),
        ("spend, ledger and audit", "/spend/"),
        ("account", "/accounts/account/"),
        ("password change", "/accounts/password_change/"),
    ]
    for name, url in pages:
        page.goto(url)
        too_wide[name] = _wider_than_screen(page)
        broken[name] = _broken_words(page)
    # The ledger's rows are stacked, each value labelled with its column.
    page.goto("/spend/")
    first = page.locator("#recent-charges tbody td").first
    assert first.evaluate("td => getComputedStyle(td, '::before').content") == '"When (UTC)"'
    assert first.evaluate("td => getComputedStyle(td).display") == "block"
    # A new token is the longest value any page shows: all of it fits in its field.
    page.goto("/accounts/tokens/")
    page.fill("#id_name", "phone")
    with page.expect_navigation():
        page.click("text=Create token")
    too_wide["new token"] = _wider_than_screen(page)
    token = page.locator("#new-token-value")
    assert token.evaluate("t => t.scrollWidth <= t.clientWidth && t.scrollHeight <= t.clientHeight")
    # In a team's context the gallery and its header name the team.
    page.goto("/")
    page.click("#menu-button")
    page.select_option("#context-switcher select[name=team]", label=seed["team"].name)
    with page.expect_navigation():
        page.click("#context-switcher button")
    too_wide["team gallery"] = _wider_than_screen(page)
    if too_wide["team gallery"]:
        print(_sticking_out(page))
    overflowing = {k: v for k, v in too_wide.items() if v > 0}
    assert overflowing == {}, f"px of sideways scroll at {width} px: {overflowing}"
    broken = {k: v for k, v in broken.items() if v}
    assert broken == {}, f"words broken at {width} px: {broken}"


def _staff_with_a_team() -> User:
    user = make_user("nell")
    user.is_staff = True
    user.save()
    make_team(user, "Northwind")
    return user


def test_the_header_is_one_line_on_a_phone_with_a_menu(tab: Page) -> None:
    user = _staff_with_a_team()
    tab.set_viewport_size({"width": 390, "height": 800})
    log_in(tab, user.username)
    brand, button = tab.locator(".topbar .brand"), tab.locator("#menu-button")
    header = tab.locator("#topbar").bounding_box()
    assert header is not None and header["height"] < 64, header
    b, m = brand.bounding_box(), button.bounding_box()
    assert b is not None and m is not None and abs(b["y"] - m["y"]) < b["height"], (b, m)
    nav = tab.locator("#site-nav")
    expect(nav).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")

    # The keyboard opens it, walks into it, and Escape closes it with the focus back on Menu.
    button.focus()
    tab.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    assert _wider_than_screen(tab) == 0
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.getElementById('site-nav').contains(document.activeElement)")
    tab.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()

    # Its links work.
    button.click()
    with tab.expect_navigation():
        nav.get_by_role("link", name="Teams").click()
    assert tab.url.endswith("/teams/")


def test_the_header_is_one_line_on_a_desktop_without_a_menu(tab: Page) -> None:
    user = _staff_with_a_team()
    log_in(tab, user.username)
    expect(tab.locator("#menu-button")).to_be_hidden()
    expect(tab.locator("#site-nav")).to_be_visible()
    header = tab.locator("#topbar").bounding_box()
    assert header is not None and header["height"] < 64, header


def test_the_switcher_waits_for_an_explicit_choice(tab: Page) -> None:
    user = _staff_with_a_team()
    log_in(tab, user.username)
    switches: list[str] = []
    tab.on("request", lambda r: switches.append(r.url) if "/context/" in r.url else None)
    select = tab.locator("#context-switcher select[name=team]")
    select.focus()
    tab.keyboard.press("ArrowDown")  # one arrow key: the next option, nothing more (WCAG 3.2.2)
    expect(select.locator("option:checked")).to_have_text("Northwind")
    tab.wait_for_timeout(500)
    assert switches == []
    expect(tab.locator("h1")).to_have_text("Upscale images")

    with tab.expect_navigation():
        tab.locator("#context-switcher").get_by_role("button", name="Switch").click()
    expect(tab.locator("h1")).to_have_text("Upscale images for Northwind")
    expect(select.locator("option:checked")).to_have_text("Northwind")


def test_the_new_token_copies_with_one_click(tab: Page, live_server: Any) -> None:
    make_user("ora")
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(tab, "ora")
    tab.goto("/accounts/tokens/")
    tab.fill("#id_name", "laptop")
    with tab.expect_navigation():
        tab.click("text=Create token")
    token = tab.locator("#new-token-value").input_value()
    assert re.fullmatch(r"ups_[\w-]{40,}", token), token
    tab.get_by_role("button", name="Copy").click()
    expect(tab.locator("#new-token-copied")).to_have_text("Copied.")
    assert tab.evaluate("navigator.clipboard.readText()") == token


def test_a_share_link_copies_with_one_click(tab: Page, live_server: Any) -> None:
    user = make_user("pia")
    job = with_files(make_job(user, Job.State.SUCCESS, source_name="rocket.png"))
    link = ShareLink.objects.create(job=job, created_by=user)
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(tab, "pia")
    tab.goto(job.get_absolute_url())
    tab.locator("#share").get_by_role("button", name="Copy").click()
    expect(tab.locator("#share-link-1-copied")).to_have_text("Copied.")
    assert tab.evaluate("navigator.clipboard.readText()") == link.url
