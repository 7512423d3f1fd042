"""The JSON API: token auth, submitting (JSON and multipart), listing, one job, results."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from jobs import estimates
from jobs.forms import SubmitForm
from jobs.models import Budget, Charge, Job, Membership
from tests.conftest import image_bytes, make_job, make_team_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

PHOTO = "https://images.example.com/photo.jpg"


def api_client(user: Any) -> Client:
    _, raw = ApiToken.issue(user, "script")
    return Client(headers={"Authorization": f"Bearer {raw}"}, enforce_csrf_checks=True)


@pytest.fixture
def api(alice: Any) -> Client:
    return api_client(alice)


def post_json(client: Client, body: Any, path: str = "/api/v1/jobs") -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


# --- authentication -----------------------------------------------------------------------


def test_it_requires_a_token(client: Client) -> None:
    r = client.get("/api/v1/jobs")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in r.json()["errors"]["non_field_errors"][0]


@pytest.mark.parametrize(
    "header", ["Bearer ups_wrong", "Bearer ", "Basic YWxpY2U6cGFzc3dvcmQ=", "ups_x"]
)
def test_it_rejects_a_bad_token(alice: Any, header: str) -> None:
    r = Client(headers={"Authorization": header}).get("/api/v1/jobs")
    assert r.status_code == 401


def test_it_rejects_a_revoked_token(alice: Any) -> None:
    token, raw = ApiToken.issue(alice, "old")
    token.revoke()
    r = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/jobs")
    assert r.status_code == 401


def test_it_rejects_the_token_of_a_deactivated_account(alice: Any, api: Client) -> None:
    alice.is_active = False
    alice.save()
    assert api.get("/api/v1/jobs").status_code == 401


def test_a_session_cookie_is_not_enough(alice_client: Client) -> None:
    assert alice_client.get("/api/v1/jobs").status_code == 401
    assert post_json(alice_client, {"urls": [PHOTO]}).status_code == 401


def test_it_answers_405_with_allow(api: Client) -> None:
    r = api.put("/api/v1/jobs", "{}", content_type="application/json")
    assert r.status_code == 405
    assert r["Allow"] == "GET, POST"
    assert api.delete("/api/v1/jobs/" + str(uuid.uuid4())).status_code == 405


# --- submitting ---------------------------------------------------------------------------


def test_it_submits_links_as_json(api: Client, alice: Any, public_dns: None) -> None:
    r = post_json(
        api,
        {
            "urls": [PHOTO, "https://images.example.com/b.png"],
            "resolution": "2k",
            "output_format": "webp",
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert [j["source"]["name"] for j in body["jobs"]] == ["photo.jpg", "b.png"]
    job = body["jobs"][0]
    assert job["state"] == "queued"
    assert (job["resolution"], job["output_format"]) == ("2k", "webp")
    assert job["team"] is None and job["submitted_by"] == "alice"
    assert job["url"].endswith(f"/api/v1/jobs/{job['id']}")
    assert Job.objects.filter(user=alice, team__isnull=True).count() == 2
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 2


def test_it_defaults_to_4k_jpg(api: Client, public_dns: None) -> None:
    job = post_json(api, {"urls": [PHOTO]}).json()["jobs"][0]
    assert (job["resolution"], job["output_format"]) == ("4k", "jpg")


def test_it_submits_files_as_multipart(api: Client, alice: Any, public_dns: None) -> None:
    files = [
        SimpleUploadedFile("one.png", image_bytes("PNG")),
        SimpleUploadedFile("two.jpg", image_bytes("JPEG")),
    ]
    r = api.post("/api/v1/jobs", {"images": files, "urls": PHOTO, "resolution": "2k"})
    assert r.status_code == 201, r.content
    assert sorted(j["source"]["name"] for j in r.json()["jobs"]) == [
        "one.png",
        "photo.jpg",
        "two.jpg",
    ]
    upload = Job.objects.get(source_name="one.png")
    assert upload.source_file and upload.source_width == 64


def test_it_takes_the_forms_options(api: Client, alice: Any, public_dns: None) -> None:
    r = post_json(api, {"urls": [PHOTO], "strip_gps": True, "notify": True, "force_new": False})
    assert r.status_code == 201, r.content
    job = Job.objects.get(user=alice)
    assert job.strip_gps and job.batch.notify and not job.force_new


def test_it_reuses_a_result_unless_told_to_run_again(api: Client, alice: Any) -> None:
    png = image_bytes("PNG")
    done = with_files(make_job(alice, Job.State.SUCCESS, output_format="jpg", resolution="2k"))
    Job.objects.filter(pk=done.pk).update(source_sha256=hashlib.sha256(png).hexdigest())

    def send(**options: str) -> dict[str, Any]:
        image = SimpleUploadedFile("cat.png", png)
        r = api.post("/api/v1/jobs", {"images": [image], "resolution": "2k", **options})
        assert r.status_code == 201, r.content
        return dict(r.json()["jobs"][0])

    assert send()["state"] == "success"  # reused at once, free
    assert send(force_new="true")["state"] == "queued"
    bad = api.post("/api/v1/jobs", {"urls": PHOTO, "force_new": "maybe"})
    assert bad.json()["errors"] == {"force_new": ["true or false."]}


def test_it_accepts_a_urlencoded_form(api: Client, public_dns: None) -> None:
    r = api.post(
        "/api/v1/jobs",
        "urls=https%3A%2F%2Fimages.example.com%2Fa.jpg&resolution=8k",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 201
    assert r.json()["jobs"][0]["resolution"] == "8k"


def test_it_warns_like_the_form(api: Client) -> None:
    big = SimpleUploadedFile("big.png", image_bytes("PNG", size=(2100, 10)))
    r = api.post("/api/v1/jobs", {"images": [big], "resolution": "2k"})
    assert r.status_code == 201
    assert "already 2100 px" in r.json()["warnings"][0]


@pytest.mark.parametrize(
    ("urls", "extra"),
    [
        ([], {}),
        (["ftp://example.com/a.jpg"], {}),
        ([PHOTO, "http://127.0.0.1/a.jpg", "not a url"], {}),
        (["http://169.254.169.254/latest/meta-data"], {}),
        ([PHOTO], {"resolution": "16k"}),
        ([PHOTO], {"output_format": "gif"}),
        ([PHOTO], {"key": "not-a-uuid"}),
    ],
)
def test_it_gives_the_forms_messages(
    api: Client, public_dns: None, urls: list[str], extra: dict[str, str]
) -> None:
    r = post_json(api, {"urls": urls, **extra})
    assert r.status_code == 400
    form = SubmitForm(
        {
            "urls": "\n".join(urls),
            "resolution": "4k",
            "output_format": "jpg",
            "key": str(uuid.uuid4()),
            **extra,
        }
    )
    assert not form.is_valid()
    expected = {
        ("non_field_errors" if k == "__all__" else k): list(v) for k, v in form.errors.items()
    }
    assert r.json() == {"errors": expected}
    assert not Job.objects.exists()


def test_a_bad_file_rejects_the_batch_with_the_forms_message(api: Client) -> None:
    files = [
        SimpleUploadedFile("ok.png", image_bytes("PNG")),
        SimpleUploadedFile("anim.gif", image_bytes("GIF")),
    ]
    r = api.post("/api/v1/jobs", {"images": files})
    assert r.status_code == 400
    messages = r.json()["errors"]["non_field_errors"]
    assert messages[0].startswith("anim.gif: GIF files are not supported")
    assert messages[-1] == "Nothing was submitted; fix the lines above and send again."
    assert not Job.objects.exists()


def test_it_names_an_oversized_upload(api: Client, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    big = SimpleUploadedFile("big.png", image_bytes("PNG", (200, 200)) + b"\0" * 2000)
    r = api.post("/api/v1/jobs", {"images": [big]})
    assert r.status_code == 400
    assert "big.png: The file is larger than" in r.json()["errors"]["non_field_errors"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"urls": PHOTO}, "urls"),
        ({"urls": [PHOTO, 3]}, "urls"),
        ({"urls": [f"{PHOTO}\nhttp://127.0.0.1/"]}, "urls"),
        ({"urls": [PHOTO], "resolution": 4}, "resolution"),
        ({"urls": [PHOTO], "tier": "4k"}, "tier"),
        ({"urls": [PHOTO], "team": ["x"]}, "team"),
        ({"urls": [PHOTO], "force_new": "yes"}, "force_new"),
        ({"urls": [PHOTO], "notify": 1}, "notify"),
    ],
)
def test_it_rejects_a_malformed_body(api: Client, body: dict[str, Any], field: str) -> None:
    r = post_json(api, body)
    assert r.status_code == 400
    assert field in r.json()["errors"]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "\xff"])
def test_it_rejects_bodies_that_are_not_a_json_object(api: Client, raw: str) -> None:
    r = api.post("/api/v1/jobs", raw.encode("latin-1"), content_type="application/json")
    assert r.status_code == 400
    assert r.json()["errors"]["non_field_errors"]


def test_it_refuses_too_many_files(api: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [SimpleUploadedFile(f"{n}.png", image_bytes("PNG")) for n in range(3)]
    r = api.post("/api/v1/jobs", {"images": files})
    assert r.status_code == 413
    assert r.json()["errors"]["non_field_errors"] == ["The request is too large."]


def test_it_refuses_a_broken_multipart_body(api: Client) -> None:
    r = api.post("/api/v1/jobs", b"--x\r\nbroken", content_type="multipart/form-data")
    assert r.status_code == 400
    assert "multipart" in r.json()["errors"]["non_field_errors"][0]


def test_it_rejects_other_content_types(api: Client) -> None:
    r = api.post("/api/v1/jobs", "urls", content_type="text/plain")
    assert r.status_code == 415


def test_it_rejects_unknown_form_fields(api: Client) -> None:
    r = api.post("/api/v1/jobs", {"file": SimpleUploadedFile("a.png", image_bytes("PNG"))})
    assert r.status_code == 400
    assert r.json()["errors"] == {"file": ["Unknown field."]}


def test_it_refuses_over_quota_with_the_forms_message(
    api: Client, alice: Any, public_dns: None
) -> None:
    Budget.objects.filter(user=alice).update(limit_cents=1)
    r = post_json(api, {"urls": [PHOTO, "https://images.example.com/b.png"]})
    assert r.status_code == 402
    assert r.json()["errors"]["non_field_errors"] == [
        "2 images = $0.02, but only $0.01 is left of your quota. Nothing was submitted. "
        "Remove some images, or ask an admin to raise your quota."
    ]
    assert not Job.objects.exists()
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 0


def test_it_shares_the_forms_rate_limit(
    api: Client, alice: Any, alice_client: Client, settings: Any, public_dns: None
) -> None:
    settings.SUBMIT_RATE_LIMIT = 2
    assert post_json(api, {"urls": [PHOTO]}).status_code == 201
    alice_client.post("/jobs/", {"urls": PHOTO, "resolution": "2k", "output_format": "jpg"})
    r = post_json(api, {"urls": [PHOTO]})
    assert r.status_code == 429
    assert r["Retry-After"] == "60"
    assert "submitting very fast" in r.json()["errors"]["non_field_errors"][0]


def test_a_repeated_key_returns_the_first_jobs(api: Client, alice: Any, public_dns: None) -> None:
    key = str(uuid.uuid4())
    first = post_json(api, {"urls": [PHOTO], "key": key})
    again = post_json(api, {"urls": [PHOTO, PHOTO], "key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["batch"] == key
    assert [j["id"] for j in again.json()["jobs"]] == [j["id"] for j in first.json()["jobs"]]
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 1


def test_someone_elses_key_is_refused(api: Client, charlie: Any, public_dns: None) -> None:
    key = str(uuid.uuid4())
    assert post_json(api_client(charlie), {"urls": [PHOTO], "key": key}).status_code == 201
    r = post_json(api, {"urls": [PHOTO], "key": key})
    assert r.status_code == 400
    assert "key" in r.json()["errors"]


# --- teams --------------------------------------------------------------------------------


def test_a_member_submits_to_the_team(team: Any, bob: Any, public_dns: None) -> None:
    r = post_json(api_client(bob), {"urls": [PHOTO], "team": str(team.code)})
    assert r.status_code == 201
    job = r.json()["jobs"][0]
    assert job["team"] == str(team.code) and job["submitted_by"] == "bob"
    team.budget.refresh_from_db()
    assert team.budget.reserved_cents == 1


def test_the_team_can_come_in_the_query(team: Any, bob: Any, public_dns: None) -> None:
    r = post_json(api_client(bob), {"urls": [PHOTO]}, path=f"/api/v1/jobs?team={team.code}")
    assert r.json()["jobs"][0]["team"] == str(team.code)


def test_a_team_over_budget_gets_the_teams_message(team: Any, bob: Any, public_dns: None) -> None:
    Budget.objects.filter(pk=team.budget_id).update(limit_cents=0)
    r = post_json(api_client(bob), {"urls": [PHOTO], "team": str(team.code)})
    assert r.status_code == 402
    assert "left of Acme's budget this month" in r.json()["errors"]["non_field_errors"][0]


def test_a_viewer_may_not_submit(team: Any, bob: Any, public_dns: None) -> None:
    Membership.objects.filter(team=team, user=bob).update(role="viewer")
    r = post_json(api_client(bob), {"urls": [PHOTO], "team": str(team.code)})
    assert r.status_code == 403
    assert r.json()["errors"]["non_field_errors"] == ["Viewers can't submit images to the team."]


@pytest.mark.parametrize("code", ["outsider", "not-a-uuid", "random"])
def test_an_outsider_gets_404(team: Any, charlie: Any, public_dns: None, code: str) -> None:
    value = {"outsider": str(team.code), "random": str(uuid.uuid4())}.get(code, code)
    client = api_client(charlie)
    assert post_json(client, {"urls": [PHOTO], "team": value}).status_code == 404
    assert client.get(f"/api/v1/jobs?team={value}").status_code == 404
    assert not Job.objects.exists()


# --- reading ------------------------------------------------------------------------------


def test_it_lists_my_personal_jobs_newest_first(
    api: Client, alice: Any, team: Any, charlie: Any
) -> None:
    old = make_job(alice, source_name="old.jpg")
    new = make_job(alice, source_name="new.jpg")
    make_job(charlie, source_name="charlies.jpg")
    make_team_job(team, alice, source_name="team.jpg")
    r = api.get("/api/v1/jobs")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    assert [j["id"] for j in body["jobs"]] == [str(new.code), str(old.code)]
    assert body["next"] is None and body["previous"] is None


def test_it_pages(api: Client, alice: Any) -> None:
    for n in range(5):
        make_job(alice, source_name=f"{n}.jpg")
    first = api.get("/api/v1/jobs?per_page=2").json()
    assert (first["count"], first["page"], len(first["jobs"])) == (5, 1, 2)
    assert first["next"].endswith("/api/v1/jobs?per_page=2&page=2")
    last = api.get("/api/v1/jobs?per_page=2&page=3").json()
    assert [j["source"]["name"] for j in last["jobs"]] == ["0.jpg"]
    assert last["next"] is None and last["previous"].endswith("page=2")
    assert api.get("/api/v1/jobs?per_page=2&page=9").json()["jobs"] == []


@pytest.mark.parametrize(
    "query", ["page=0", "page=x", "per_page=101", "page=99999999999", "state=done", "page=٣"]
)
def test_it_rejects_bad_list_parameters(api: Client, query: str) -> None:
    r = api.get(f"/api/v1/jobs?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()["errors"]


def test_it_filters_by_state(api: Client, alice: Any) -> None:
    make_job(alice, Job.State.FAILED, fail_code="SourceInvalid")
    make_job(alice)
    body = api.get("/api/v1/jobs?state=failed").json()
    assert body["count"] == 1
    assert body["jobs"][0]["fail_code"] == "SourceInvalid"
    assert body["jobs"][0]["advice"]


def test_a_member_lists_the_teams_jobs(team: Any, alice: Any, bob: Any) -> None:
    make_team_job(team, alice, source_name="alices.jpg")
    make_team_job(team, bob, source_name="bobs.jpg")
    make_job(bob, source_name="bobs-personal.jpg")
    body = api_client(bob).get(f"/api/v1/jobs?team={team.code}").json()
    assert sorted(j["source"]["name"] for j in body["jobs"]) == ["alices.jpg", "bobs.jpg"]
    assert body["jobs"][0]["team"] == str(team.code)


def test_a_viewer_reads_the_teams_jobs(team: Any, bob: Any, alice: Any) -> None:
    Membership.objects.filter(team=team, user=bob).update(role="viewer")
    job = make_team_job(team, alice)
    client = api_client(bob)
    assert client.get(f"/api/v1/jobs?team={team.code}").json()["count"] == 1
    assert client.get(f"/api/v1/jobs/{job.code}").status_code == 200


def test_it_shows_one_job(api: Client, alice: Any) -> None:
    retried = make_job(alice, Job.State.FAILED)
    job = with_files(
        make_job(
            alice,
            Job.State.SUCCESS,
            retry_of=retried,
            result_width=128,
            result_height=96,
            result_bytes=1234,
            finished_at=timezone.now(),
        )
    )
    r = api.get(f"/api/v1/jobs/{job.code}")
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == "success"
    assert body["retry_of"] == str(retried.code)
    assert body["result"]["url"].endswith(f"/api/v1/jobs/{job.code}/result")
    assert body["result"]["file_name"] == "photo_2k.jpg"
    assert (body["result"]["width"], body["result"]["bytes"]) == (128, 1234)
    assert body["web_url"].endswith(f"/jobs/{job.code}/")
    assert body["finished_at"]


def test_it_says_what_each_job_cost(api: Client, alice: Any) -> None:
    """charged_cents is the ledger's (charges less refunds); reused copies cost nothing."""
    paid = make_job(alice, Job.State.FAILED, fail_code="Timeout", task_id="task_1")
    Charge.objects.create(job=paid, job_code=paid.code, budget=alice.budget, amount_cents=1)
    refunded = make_job(alice, Job.State.FAILED, fail_code="Timeout", task_id="task_2")
    refund_of = Charge.objects.create(
        job=refunded, job_code=refunded.code, budget=alice.budget, amount_cents=1
    )
    Charge.objects.create(
        job=refunded,
        job_code=refunded.code,
        budget=alice.budget,
        kind=Charge.Kind.REFUND,
        amount_cents=-1,
        refund_of=refund_of,
    )
    never_sent = make_job(alice, Job.State.FAILED, fail_code="SourceUnavailable")
    copy = make_job(alice, Job.State.SUCCESS, reused_from=paid)
    expected = {
        str(paid.code): (1, False),
        str(refunded.code): (0, False),
        str(never_sent.code): (0, False),
        str(copy.code): (0, True),
    }
    listed = api.get("/api/v1/jobs").json()["jobs"]
    assert {j["id"]: (j["charged_cents"], j["reused"]) for j in listed} == expected
    for code, values in expected.items():
        one = api.get(f"/api/v1/jobs/{code}").json()
        assert (one["charged_cents"], one["reused"]) == values


@pytest.mark.parametrize("code", ["charlies", "unknown", "not-a-uuid"])
def test_it_hides_other_peoples_jobs(api: Client, charlie: Any, code: str) -> None:
    job = make_job(charlie)
    value = {"charlies": str(job.code), "unknown": str(uuid.uuid4())}.get(code, code)
    for path in (f"/api/v1/jobs/{value}", f"/api/v1/jobs/{value}/result"):
        r = api.get(path)
        assert r.status_code == 404
        assert r["Content-Type"] == "application/json"


def test_a_teammate_cannot_see_my_personal_job(team: Any, alice: Any, bob: Any) -> None:
    job = make_job(alice)
    assert api_client(bob).get(f"/api/v1/jobs/{job.code}").status_code == 404


def test_it_downloads_the_result(api: Client, alice: Any) -> None:
    job = with_files(make_job(alice, Job.State.SUCCESS))
    r = api.get(f"/api/v1/jobs/{job.code}/result")
    assert r.status_code == 200
    assert r["Content-Type"] == "image/jpeg"
    assert 'filename="photo_2k.jpg"' in r["Content-Disposition"]
    assert r.getvalue()[:2] == b"\xff\xd8"


def test_there_is_no_result_before_success(api: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PROCESSING)
    r = api.get(f"/api/v1/jobs/{job.code}/result")
    assert r.status_code == 404
    assert r.json()["errors"]["non_field_errors"] == ["This job has no result (yet)."]


def test_listing_takes_a_fixed_number_of_queries(
    api: Client, alice: Any, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        make_job(alice, retry_of=make_job(alice, Job.State.FAILED))
    estimates.table()  # the learnt estimates (each job's eta) come from the cache
    # token + last_used, budget context-free: count, page (with user, team, retry_of)
    with django_assert_num_queries(4):
        api.get("/api/v1/jobs")
    for _ in range(10):
        make_job(alice)
    with django_assert_num_queries(4):
        api.get("/api/v1/jobs?per_page=100")


def test_it_marks_the_token_used(api: Client, alice: Any) -> None:
    api.get("/api/v1/jobs")
    token = ApiToken.objects.get(user=alice)
    assert token.last_used is not None


def test_it_answers_a_json_400_for_json_nested_too_deep_to_parse(api: Client) -> None:
    deep = '{"urls": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = api.post("/api/v1/jobs", deep, content_type="application/json")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert r.json()["errors"]["non_field_errors"] == ["The body is not valid JSON."]
    assert not Job.objects.exists()


def test_it_says_how_many_files_were_sent_past_a_batch(api: Client, settings: Any) -> None:
    settings.BATCH_MAX_IMAGES = 3
    files = [SimpleUploadedFile(f"{n}.png", image_bytes("PNG")) for n in range(5)]
    r = api.post("/api/v1/jobs", {"images": files})
    assert r.status_code == 400
    assert r.json()["errors"]["non_field_errors"] == ["That is 5 images; one batch takes up to 3."]
