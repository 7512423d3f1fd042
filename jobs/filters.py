"""Gallery search and filters, all in the URL's query string (bookmarkable).

The gallery page, its pager and its live poll all build their queryset with the same
`GalleryFilter.apply`, so a filtered page only ever receives cards that belong on it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from jobs.models import Job, Team

PARAMS = ("q", "state", "tier", "format", "start", "end", "by", "batch")


class GalleryFilter(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search names and notes")
    state = forms.ChoiceField(required=False, choices=[("", "any state"), *Job.State.choices])
    tier = forms.ChoiceField(required=False, choices=[("", "any tier"), *Job.Resolution.choices])
    format = forms.ChoiceField(required=False, choices=[("", "any format"), *Job.Format.choices])
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    by = forms.ChoiceField(required=False, label="Submitted by", choices=[("", "anyone")])
    batch = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any, team: Team | None = None) -> None:
        super().__init__({k: data.get(k, "") for k in PARAMS})
        if team is not None:
            names = team.memberships.order_by("user__username").values_list(
                "user__username", flat=True
            )
            by = self.fields["by"]
            assert isinstance(by, forms.ChoiceField)
            by.choices = [("", "anyone"), *((n, n) for n in names)]
        else:
            del self.fields["by"]
        self.is_valid()  # fills cleaned_data with the values that are valid; others are ignored

    def value(self, name: str) -> Any:
        return getattr(self, "cleaned_data", {}).get(name) or None

    @property
    def active(self) -> bool:
        return any(self.value(name) for name in PARAMS)

    def apply(self, jobs: QuerySet[Job]) -> QuerySet[Job]:
        """The jobs that match every filter set."""
        if q := self.value("q"):
            for word in q.split()[:5]:
                jobs = jobs.filter(Q(source_name__icontains=word) | Q(note__icontains=word))
        if state := self.value("state"):
            jobs = jobs.filter(state=state)
        if tier := self.value("tier"):
            jobs = jobs.filter(resolution=tier)
        if fmt := self.value("format"):
            jobs = jobs.filter(output_format=fmt)
        tz = timezone.get_current_timezone()
        if start := self.value("start"):
            jobs = jobs.filter(created__gte=datetime.combine(start, time.min, tz))
        if end := self.value("end"):
            jobs = jobs.filter(created__lt=datetime.combine(end + timedelta(days=1), time.min, tz))
        if by := self.value("by"):
            jobs = jobs.filter(user__username=by)
        if batch := self.value("batch"):
            jobs = jobs.filter(batch__code=batch)
        return jobs

    def query(self) -> str:
        """The active filters as a query string ("state=failed&tier=4k"), for the poll."""
        pairs = [(name, str(self.value(name))) for name in PARAMS if self.value(name)]
        return urlencode(pairs)
