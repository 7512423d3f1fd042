"""Named submit presets ("Print 8k PNG"): save the form's current settings, delete one.

A preset belongs to one user, in every context; the gallery's form lists them, and the
page's JS fills the form from one. The buttons post with htmx (only the settings, not the
picked files) and get the presets row back; a plain post comes back to the gallery.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from jobs import access
from jobs.models import Job, SubmitPreset
from lib.http import AuthedRequest

MAX_PRESETS = 20


class PresetForm(forms.Form):
    preset_name = forms.CharField(max_length=60, strip=True)
    resolution = forms.ChoiceField(choices=Job.Resolution)
    output_format = forms.ChoiceField(choices=Job.Format)
    strip_gps = forms.BooleanField(required=False)
    notify = forms.BooleanField(required=False)
    skip_small = forms.BooleanField(required=False)


@require_POST
def preset_save(request: AuthedRequest) -> HttpResponse:
    """Save the posted settings under a name; the same name again replaces that preset."""
    form = PresetForm(request.POST)
    error = ""
    if not form.is_valid():
        error = (
            "Name the preset first."
            if "preset_name" in form.errors
            else "Those settings can't be saved."
        )
    else:
        data = form.cleaned_data
        mine = request.user.submit_presets
        name = data["preset_name"]
        if mine.count() >= MAX_PRESETS and not mine.filter(name=name).exists():
            error = f"You have {MAX_PRESETS} presets already: delete one first."
        else:
            values = {k: data[k] for k in SubmitPreset.FIELDS}
            SubmitPreset.objects.update_or_create(user=request.user, name=name, defaults=values)
    return _presets(request, error, saved="" if error else form.cleaned_data["preset_name"])


@require_POST
def preset_delete(request: AuthedRequest, code: str) -> HttpResponse:
    access.get_preset_for_user(request.user, code).delete()
    return _presets(request)


def _presets(request: AuthedRequest, error: str = "", saved: str = "") -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif saved:
            messages.success(request, f"Saved the preset {saved}.")
        return redirect("gallery")
    context = {"presets": list(request.user.submit_presets.all()), "preset_error": error}
    return render(request, "jobs/gallery.html#presets", context, status=400 if error else 200)
