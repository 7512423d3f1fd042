"""The gallery's forms: the submit form (links and files, one batch, checked whole before
anything is reserved) and the share form."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from jobs.dedupe import sha256_of
from jobs.models import Job
from jobs.submit import Source
from lib import fetch
from lib.images import ImageInfo, ImageRejected, inspect_image, inspect_phone_photo
from lib.site import site_is_public


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[bytes]]:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [f for f in files if f]


def uploads_reachable() -> bool:
    """Can APIXO fetch an uploaded source from SITE_URL? Always, for the local engine."""
    return settings.USING_ENGINE or site_is_public()


# What the file picker offers: the types APIXO takes, and the phone photos converted on
# upload (listed by extension too: some systems give HEIC files no MIME type).
PICKER_ACCEPT = "image/jpeg,image/png,image/webp,image/heic,image/heif,image/avif,.heic,.heif,.avif"
# The types the browser checks before sending (the server checks the bytes anyway).
BROWSER_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif")
BROWSER_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "heic", "heif", "avif")


def browser_limits() -> dict[str, Any]:
    """The server's limits, for the page's checks before sending (data attributes on the
    form): the browser marks a bad file on its thumbnail before it is uploaded, and the
    numbers live in settings only."""
    return {
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "max_mb": f"{settings.UPLOAD_MAX_BYTES / (1024 * 1024):g}",
        "max_pixels": settings.UPLOAD_MAX_PIXELS,
        "max_files": settings.BATCH_MAX_IMAGES,
        "types": ",".join(BROWSER_TYPES),
        "extensions": ",".join(BROWSER_EXTENSIONS),
        "edges": ",".join(f"{tier}:{edge}" for tier, edge in Job.LONG_EDGE.items()),
    }


def _checked(f: UploadedFile[bytes]) -> tuple[str, ImageInfo]:
    """The name to show and what the header says of an upload, or raise ImageRejected.

    A HEIC/AVIF phone photo is checked from its header and stored as it is; the worker
    converts it to PNG before APIXO sees it, so it is named as the PNG it becomes.
    """
    if phone := inspect_phone_photo(f, f.size or 0):
        return (f.name or "photo").rsplit(".", 1)[0] + ".png", phone
    return f.name or "upload", inspect_image(f, f.size or 0)


class SubmitForm(forms.Form):
    urls = forms.CharField(
        required=False,
        label="Image links",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "https://example.com/photo.jpg (one per line)"}
        ),
    )
    images = MultipleFileField(
        required=False,
        label="Image files",
        widget=MultipleFileInput(attrs={"accept": PICKER_ACCEPT}),
    )
    resolution = forms.ChoiceField(choices=Job.Resolution, initial="4k")
    output_format = forms.ChoiceField(choices=Job.Format, initial="jpg", label="Format")
    strip_gps = forms.BooleanField(
        required=False, label="Remove the GPS location from the results' EXIF"
    )
    force_new = forms.BooleanField(
        required=False, label="Upscale again even if I already have this"
    )
    notify = forms.BooleanField(required=False, label="Email me when a long batch finishes")
    skip_small = forms.BooleanField(
        required=False,
        label="Skip (no charge) any image already as large as the chosen resolution",
    )
    key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(
        self,
        *args: Any,
        oversized: list[str] | None = None,
        files_sent: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Files the upload handler stopped reading because they passed the size limit.
        self.oversized = oversized or []
        # How many files were sent, counting those it skipped past a batch's worth.
        self.files_sent = files_sent
        # The refused files by name, each with its reasons: the page marks them on their
        # thumbnails (the browser still holds every file picked) and the API lists them.
        self.file_errors: dict[str, list[str]] = {}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        lines = [line.strip() for line in (data.get("urls") or "").splitlines() if line.strip()]
        files: list[UploadedFile[bytes]] = data.get("images") or []
        if not lines and not files and not self.oversized and not self.errors:
            raise forms.ValidationError("Add at least one image: a link or a file.")
        images = len(lines) + max(len(files), self.files_sent - len(self.oversized))
        if images > settings.BATCH_MAX_IMAGES:
            raise forms.ValidationError(
                f"That is {images} images; one batch takes up to {settings.BATCH_MAX_IMAGES}."
            )
        if files and not uploads_reachable():
            raise forms.ValidationError(
                "Uploads are off: APIXO fetches uploaded files from SITE_URL "
                f"({settings.SITE_URL}), which is not a public https address. "
                "Use image links instead, or set SITE_URL to this site's public address."
            )

        sources: list[Source] = []
        errors: list[str] = []
        for name in self.oversized:
            too_big = f"The file is larger than {settings.UPLOAD_MAX_BYTES / (1024 * 1024):g} MB."
            errors.append(f"{name}: {too_big}")
            self.file_errors.setdefault(name, []).append(too_big)
        for n, line in enumerate(lines, start=1):
            try:
                url = fetch.check_url(line)
            except fetch.FetchError as e:
                errors.append(f"Line {n} ({line[:80]}): {e.message}")
                continue
            name = urlsplit(url).path.rsplit("/", 1)[-1] or urlsplit(url).hostname or "image"
            sources.append(Source(name=name, url=url))
        for f in files:
            picked = f.name or "upload"  # the name the browser knows it by
            try:
                name, info = _checked(f)
            except ImageRejected as e:
                errors.append(f"{picked}: {e.message}")
                self.file_errors.setdefault(picked, []).append(e.message)
                continue
            sources.append(
                Source(
                    name=name,
                    upload=f,
                    width=info.width,
                    height=info.height,
                    size=f.size,
                    ext=info.format,
                    sha256=sha256_of(f),
                )
            )
        if errors:
            # One bad line or file rejects the whole batch, so nothing is half-submitted.
            raise forms.ValidationError(
                [forms.ValidationError(e) for e in errors]
                + [
                    forms.ValidationError(
                        "Nothing was submitted; fix the lines above and send again."
                    )
                ]
            )
        data["sources"], data["repeats"] = _without_repeats(sources)
        return data

    def warnings(self) -> list[str]:
        """Sources that the chosen tier will not enlarge, and repeats left out."""
        edge = Job.LONG_EDGE[self.cleaned_data["resolution"]]
        skip = (
            ": it is skipped, with no charge, as you asked"
            if self.cleaned_data["skip_small"]
            else ""
        )
        return [
            f"{s.name} is already {max(s.width, s.height)} px on its long edge; "
            f"{self.cleaned_data['resolution']} ({edge} px) will not enlarge it{skip}."
            for s in self.cleaned_data["sources"]
            if s.width and s.height and max(s.width, s.height) >= edge
        ] + [
            f"{name} is in this batch more than once: it is upscaled, and charged, once."
            for name in self.cleaned_data["repeats"]
        ]


def _without_repeats(sources: list[Source]) -> tuple[list[Source], list[str]]:
    """The sources without repeats (the same link, or a file with the same bytes), and the
    names of those left out: one batch never pays twice for one picture."""
    seen: set[str] = set()
    kept: list[Source] = []
    repeats: list[str] = []
    for source in sources:
        same = f"url:{source.url}" if source.url else f"sha256:{source.sha256}"
        if same in seen:
            if source.name not in repeats:
                repeats.append(source.name)
            continue
        seen.add(same)
        kept.append(source)
    return kept, repeats


class ShareForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(1, "1 day"), (7, "7 days"), (30, "30 days")],
        coerce=int,
        initial=7,
        label="Link works for",
    )
