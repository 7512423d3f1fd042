"""The submit form that forgives (issue 12): remembered settings and presets, per-file
errors, the browser's limits from settings, phone photos keep their names, the live "left",
a free reuse in the quota message, and sources the tier won't enlarge."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import pytest
import responses
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from jobs import tasks
from jobs.models import Job, SubmitDefaults, SubmitPreset
from lib import fetch
from tests.api.test_api import api_client, post_json
from tests.conftest import add_member, image_bytes, make_job, make_team, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

PNG = image_bytes("PNG")


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    started: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_start", started.append)
    return started


def _payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "urls": "",
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
    }
    data.update(overrides)
    return data


def _upload(name: str = "cat.png", content: bytes = PNG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def _selected(body: str, name: str) -> str:
    """The selected option of the form's <select name=...>."""
    select = re.search(rf'<select name="{name}".*?</select>', body, re.S)
    assert select, name
    found = re.search(r'<option value="([^"]*)"[^>]*selected', select.group(0))
    assert found, select.group(0)
    return found.group(1)


def _checked(body: str, name: str) -> bool:
    tag = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', body)
    assert tag, name
    return "checked" in tag.group(0)


# --- remembered settings ------------------------------------------------------------------


def test_the_form_starts_from_the_settings_last_submitted(
    alice_client: Client, alice: Any, enqueued: list[int]
) -> None:
    body = alice_client.get("/").content.decode()
    assert (_selected(body, "resolution"), _selected(body, "output_format")) == ("4k", "jpg")
    r = alice_client.post(
        "/jobs/",
        _payload(
            images=[_upload()], resolution="8k", output_format="png", strip_gps="on", notify="on"
        ),
    )
    assert r.status_code == 302
    body = alice_client.get("/").content.decode()  # a new visit, say the next day
    assert (_selected(body, "resolution"), _selected(body, "output_format")) == ("8k", "png")
    assert _checked(body, "strip_gps") and _checked(body, "notify")
    assert not _checked(body, "force_new")  # paying again is never remembered


def test_a_refused_batch_changes_no_remembered_setting(
    alice_client: Client, alice: Any, enqueued: list[int]
) -> None:
    alice_client.post("/jobs/", _payload(images=[_upload()], resolution="8k"))
    alice_client.post("/jobs/", _payload(images=[_upload("x.jpg", b"junk")], resolution="2k"))
    assert SubmitDefaults.for_context(alice, None)["resolution"] == "8k"


def test_each_team_context_remembers_its_own(
    alice: Any, bob: Any, enqueued: list[int], client: Client
) -> None:
    team = make_team(alice, "Studio")
    add_member(team, bob)
    client.force_login(bob)
    client.post("/jobs/", _payload(images=[_upload()], resolution="8k", team=str(team.code)))
    client.post("/jobs/", _payload(images=[_upload("dog.png", image_bytes("PNG", (30, 20)))]))
    assert SubmitDefaults.for_context(bob, team)["resolution"] == "8k"
    assert SubmitDefaults.for_context(bob, None)["resolution"] == "2k"
    # Nobody else's defaults change: alice, in the same team, still starts from the form's.
    assert SubmitDefaults.for_context(alice, team)["resolution"] == "4k"


def test_the_team_gallerys_form_starts_from_the_teams_settings(
    alice: Any, bob: Any, enqueued: list[int], client: Client
) -> None:
    team = make_team(alice, "Studio")
    add_member(team, bob)
    SubmitDefaults.remember(bob, team, {"resolution": "8k", "output_format": "webp"})
    SubmitDefaults.remember(bob, None, {"resolution": "2k", "output_format": "png"})
    client.force_login(bob)
    personal = client.get("/").content.decode()
    assert (_selected(personal, "resolution"), _selected(personal, "output_format")) == (
        "2k",
        "png",
    )
    client.post("/context/", {"team": team.code})
    in_team = client.get("/").content.decode()
    assert (_selected(in_team, "resolution"), _selected(in_team, "output_format")) == (
        "8k",
        "webp",
    )


def test_the_api_takes_the_remembered_settings_only_when_the_request_says_nothing(
    alice: Any, alice_client: Client, enqueued: list[int], public_dns: None
) -> None:
    alice_client.post(
        "/jobs/", _payload(images=[_upload()], resolution="8k", output_format="webp", notify="on")
    )
    api = api_client(alice)
    said_nothing = post_json(api, {"urls": ["https://images.example.com/a.jpg"]})
    assert said_nothing.status_code == 201, said_nothing.json()
    job = Job.objects.get(code=said_nothing.json()["jobs"][0]["id"])
    assert (job.resolution, job.output_format, job.batch.notify) == ("8k", "webp", True)

    said = post_json(
        api,
        {
            "urls": ["https://images.example.com/b.jpg"],
            "resolution": "2k",
            "output_format": "jpg",
            "notify": False,
        },
    )
    job = Job.objects.get(code=said.json()["jobs"][0]["id"])
    assert (job.resolution, job.output_format, job.batch.notify) == ("2k", "jpg", False)
    # And the API never changes what the web form starts from.
    assert SubmitDefaults.for_context(alice, None)["resolution"] == "8k"


def test_the_api_without_remembered_settings_keeps_4k_jpg(
    alice: Any, enqueued: list[int], public_dns: None
) -> None:
    r = post_json(api_client(alice), {"urls": ["https://images.example.com/a.jpg"]})
    assert (r.json()["jobs"][0]["resolution"], r.json()["jobs"][0]["output_format"]) == (
        "4k",
        "jpg",
    )


# --- presets ------------------------------------------------------------------------------


def _save(client: Client, name: str = "Print 8k PNG", **fields: Any) -> Any:
    data = {"preset_name": name, "resolution": "8k", "output_format": "png", **fields}
    return client.post("/presets/", data, headers={"HX-Request": "true"})


def test_it_saves_a_named_preset_and_lists_it_in_the_form(alice_client: Client, alice: Any) -> None:
    r = _save(alice_client, strip_gps="on")
    assert r.status_code == 200
    assert "<html" not in r.content.decode()  # the presets row only
    preset = SubmitPreset.objects.get(user=alice)
    assert preset.values() == {
        "resolution": "8k",
        "output_format": "png",
        "strip_gps": True,
        "notify": False,
        "skip_small": False,
    }
    body = alice_client.get("/").content.decode()
    assert 'data-resolution="8k" data-output-format="png" data-strip-gps="true"' in body
    assert ">Print 8k PNG</button>" in body


def test_saving_the_same_name_again_replaces_the_preset(alice_client: Client, alice: Any) -> None:
    _save(alice_client)
    _save(alice_client, resolution="2k")
    assert list(SubmitPreset.objects.values_list("name", "resolution")) == [("Print 8k PNG", "2k")]


def test_presets_stop_at_twenty_but_one_can_still_be_replaced(
    alice_client: Client, alice: Any
) -> None:
    SubmitPreset.objects.bulk_create(SubmitPreset(user=alice, name=f"p{n:02}") for n in range(20))
    r = _save(alice_client, name="one too many")
    assert r.status_code == 400
    assert "You have 20 presets already: delete one first." in r.content.decode()
    assert _save(alice_client, name="p07", resolution="2k").status_code == 200
    assert SubmitPreset.objects.count() == 20
    assert SubmitPreset.objects.get(name="p07").resolution == "2k"


def test_a_preset_needs_a_name(alice_client: Client) -> None:
    r = _save(alice_client, name="  ")
    assert r.status_code == 400
    assert "Name the preset first." in r.content.decode()
    assert not SubmitPreset.objects.exists()


def test_it_deletes_my_preset(alice_client: Client, alice: Any) -> None:
    _save(alice_client)
    preset = SubmitPreset.objects.get()
    r = alice_client.post(f"/presets/{preset.code}/delete/", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert not SubmitPreset.objects.exists()


def test_nobody_else_can_delete_or_see_my_preset(
    alice_client: Client, alice: Any, charlie: Any, bob: Any
) -> None:
    _save(alice_client, name="Alice's secret preset")
    preset = SubmitPreset.objects.get()
    team = make_team(alice)
    add_member(team, charlie)  # even a teammate
    other = Client()
    other.force_login(charlie)
    assert other.post(f"/presets/{preset.code}/delete/").status_code == 404
    assert SubmitPreset.objects.exists()
    assert "Alice&#x27;s secret preset" not in other.get("/").content.decode()


def test_presets_require_login(client: Client, alice: Any) -> None:
    preset = SubmitPreset.objects.create(user=alice, name="x")
    for path in ("/presets/", f"/presets/{preset.code}/delete/"):
        r = client.post(path, {"preset_name": "y", "resolution": "2k", "output_format": "jpg"})
        assert r.status_code == 302 and "/login/" in r["Location"]
    assert list(SubmitPreset.objects.values_list("name", flat=True)) == ["x"]


# --- the browser's checks, and what the server says per file ------------------------------


def test_the_form_carries_the_servers_limits_for_the_browser(
    alice_client: Client, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 5 * 1024 * 1024
    settings.UPLOAD_MAX_PIXELS = 20_000_000
    settings.BATCH_MAX_IMAGES = 12
    body = alice_client.get("/").content.decode()
    assert f'data-max-bytes="{5 * 1024 * 1024}"' in body
    assert 'data-max-pixels="20000000"' in body and 'data-max-files="12"' in body
    assert 'data-edges="2k:2048,4k:4096,8k:8192"' in body
    assert "up to 5 MB and 20 megapixels each. Up to 12 images per batch." in body


def test_the_picker_offers_phone_photos(alice_client: Client) -> None:
    body = alice_client.get("/").content.decode()
    accept = re.search(r'<input type="file" name="images"[^>]*accept="([^"]*)"', body)
    assert accept, body
    assert {"image/heic", "image/avif", ".heic", ".avif", "image/jpeg"} <= set(
        accept.group(1).split(",")
    )


def test_a_phone_photo_keeps_its_name(
    alice_client: Client, alice: Any, enqueued: list[int]
) -> None:
    r = alice_client.post(
        "/jobs/", _payload(images=[_upload("IMG_0042.avif", image_bytes("AVIF"))])
    )
    assert r.status_code == 302
    job = Job.objects.get(user=alice)
    assert job.source_name == "IMG_0042.png"
    assert job.download_name == "IMG_0042_2k.jpg"


def test_a_refused_batch_names_each_bad_file_for_its_thumbnail(
    alice_client: Client, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 4000
    files = [
        _upload("good1.png"),
        _upload("broken.jpg", b"\xff\xd8\xff not really"),
        _upload("good2.png", image_bytes("PNG", (20, 30))),
        _upload("huge.png", PNG + b"\0" * 5000),
    ]
    r = alice_client.post("/jobs/", _payload(images=files), headers={"HX-Request": "true"})
    assert r.status_code == 400
    body = r.content.decode()
    named = dict(re.findall(r'<li data-name="([^"]+)">([^<]*)</li>', body))
    assert set(named) == {"broken.jpg", "huge.png"}
    assert "larger than" in named["huge.png"]
    assert "broken.jpg: " in body  # and the summary above the form names it too
    assert not Job.objects.exists()


# --- money: the live "left", and a free reuse ---------------------------------------------


def test_the_live_poll_brings_a_fresh_left(alice_client: Client, alice: Any) -> None:
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.SUBMITTING)
    since = int(job.updated.timestamp() * 1_000_000)
    assert job.accept("task-1")  # charged: $1.00 - $0.01
    body = alice_client.get(f"/gallery/poll/?since={since}&oldest=0").content.decode()
    cost = re.search(r'<span class="cost" id="cost"[^>]*>[^<]*</span>', body)
    assert cost, body
    assert 'hx-swap-oob="true"' in cost.group(0)
    assert 'data-left-cents="99"' in cost.group(0) and "$0.99 left" in cost.group(0)


def test_the_job_pages_poll_has_no_left(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PENDING)
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    r = alice_client.get(f"/gallery/poll/?since=0&oldest=0&job={job.code}")
    assert 'id="cost"' not in r.content.decode()  # that page has no form to put it in


def test_a_free_reuse_is_not_counted_as_a_paid_image(
    alice_client: Client, alice: Any, enqueued: list[int]
) -> None:
    with_files(
        make_job(
            alice,
            Job.State.SUCCESS,
            result_width=128,
            source_sha256=hashlib.sha256(PNG).hexdigest(),
            resolution="2k",
            output_format="jpg",
        )
    )
    alice.budget.limit_cents = alice.budget.spent_cents + 1
    alice.budget.save()
    files = [
        _upload("again.png"),
        _upload("new1.png", image_bytes("PNG", (20, 30))),
        _upload("new2.png", image_bytes("PNG", (30, 20))),
    ]
    r = alice_client.post("/jobs/", _payload(images=files))
    assert r.status_code == 400
    assert "2 images = $0.02 (1 more is a free reuse), but only $0.01 is left" in r.content.decode()


# --- sources the tier won't enlarge -------------------------------------------------------


def test_a_card_says_the_tier_wont_enlarge_its_source(alice_client: Client, alice: Any) -> None:
    make_job(alice, Job.State.PROCESSING, source_width=3000, source_height=2000, resolution="2k")
    body = alice_client.get("/").content.decode()
    assert "Already 3000 × 2000: 2k (2048 px) won't enlarge it." in body


def test_the_worker_skips_a_source_too_large_when_asked(alice: Any, monkeypatch: Any) -> None:
    submitted: list[int] = []
    monkeypatch.setattr(tasks, "submit_job", submitted.append)
    job = with_files(
        make_job(alice, source_width=5000, source_height=3000, resolution="4k", skip_small=True)
    )
    alice.budget.reserve(1)
    tasks.start_job(job.pk)
    job.refresh_from_db()
    alice.budget.refresh_from_db()
    assert submitted == []
    assert job.state == Job.State.CANCELED
    assert "already 5000 px" in job.fail_msg and "Nothing was charged" in job.fail_msg
    assert (alice.budget.reserved_cents, alice.budget.spent_cents) == (0, 0)


def test_the_worker_sends_a_small_enough_source_even_when_asked_to_skip(
    alice: Any, monkeypatch: Any
) -> None:
    submitted: list[int] = []
    monkeypatch.setattr(tasks, "submit_job", submitted.append)
    job = with_files(
        make_job(alice, source_width=1200, source_height=800, resolution="2k", skip_small=True)
    )
    tasks.start_job(job.pk)
    assert submitted == [job.pk]


def test_the_worker_sends_a_large_source_unless_asked_to_skip(alice: Any, monkeypatch: Any) -> None:
    submitted: list[int] = []
    monkeypatch.setattr(tasks, "submit_job", submitted.append)
    job = with_files(make_job(alice, source_width=5000, source_height=3000, resolution="2k"))
    tasks.start_job(job.pk)
    assert submitted == [job.pk]


SOURCE_URL = "https://images.example.com/poster.jpg"


def test_a_links_size_reaches_its_card_once_the_worker_has_it(
    alice: Any, alice_client: Client, monkeypatch: Any
) -> None:
    """The worker fetched the link: the next poll brings the card that says the tier won't
    enlarge it, before anything is sent to APIXO (or charged)."""
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    monkeypatch.setattr(tasks, "submit_job", lambda job_id: None)  # held before APIXO
    job = make_job(alice, source_url=SOURCE_URL, source_name="poster.jpg", resolution="2k")
    since = int(job.updated.timestamp() * 1_000_000)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(responses.GET, SOURCE_URL, body=image_bytes(size=(2400, 1600)))
        tasks.start_job(job.pk)
    body = alice_client.get(f"/gallery/poll/?since={since}&oldest=0").content.decode()
    assert f'id="job-{job.code}"' in body
    assert "Already 2400 × 1600: 2k (2048 px) won't enlarge it." in body


def test_a_link_too_large_to_enlarge_is_skipped_before_apixo_when_asked(
    alice: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    assert alice.budget.reserve(1)
    job = make_job(alice, source_url=SOURCE_URL, resolution="2k", skip_small=True)
    # Only the source is fetched: a submit to APIXO would be an unregistered request.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(responses.GET, SOURCE_URL, body=image_bytes(size=(2400, 1600)))
        tasks.start_job(job.pk)
    job.refresh_from_db()
    alice.budget.refresh_from_db()
    assert job.state == Job.State.CANCELED
    assert job.fail_msg.startswith("Skipped, as you asked: the source is already 2400 px")
    assert (alice.budget.reserved_cents, alice.budget.spent_cents) == (0, 0)


def test_the_submit_warning_says_a_large_upload_is_skipped_when_asked(
    alice_client: Client, enqueued: list[int]
) -> None:
    big = _upload("big.png", image_bytes("PNG", size=(2100, 10)))
    r = alice_client.post("/jobs/", _payload(images=[big], skip_small="on"), follow=True)
    assert "will not enlarge it: it is skipped, with no charge, as you asked." in (
        r.content.decode()
    )


def test_the_api_names_each_refused_file(alice: Any) -> None:
    r = api_client(alice).post(
        "/api/v1/jobs",
        {"images": [_upload("good.png"), _upload("broken.jpg", b"\xff\xd8\xff not really")]},
    )
    assert r.status_code == 400
    messages = r.json()["errors"]["non_field_errors"]
    assert any(m.startswith("broken.jpg: ") for m in messages)
    assert not any(m.startswith("good.png") for m in messages)


def test_a_plain_post_saves_a_preset_and_comes_back_to_the_gallery(
    alice_client: Client, alice: Any
) -> None:
    data = {"preset_name": "Web 2k", "resolution": "2k", "output_format": "webp"}
    r = alice_client.post("/presets/", data, follow=True)
    assert r.redirect_chain == [("/", 302)]
    assert "Saved the preset Web 2k." in r.content.decode()
    r = alice_client.post("/presets/", {**data, "preset_name": ""}, follow=True)
    assert "Name the preset first." in r.content.decode()
    assert list(SubmitPreset.objects.values_list("name", flat=True)) == ["Web 2k"]
