"""Sign-up (open, or through an invitation), email verification, and deleting an account."""

from __future__ import annotations

from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView, PasswordResetConfirmView
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts import services as accounts
from accounts.forms import SignupForm
from jobs import access
from jobs.models import Budget, Invitation
from lib.http import AuthedRequest
from lib.money import cents
from teams import services as teams

BACKEND = "django.contrib.auth.backends.ModelBackend"


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Open sign-up, or (SIGNUP_MODE=invite, or ?invite=<token>) through an invitation.

    An invitee's address is proven by the link they followed, so only other new accounts
    must verify their email (when SIGNUP_VERIFY_EMAIL is on).
    """
    if request.user.is_authenticated:
        return redirect("gallery")
    token = request.GET.get("invite") or request.POST.get("invite") or ""
    invite = teams.open_invitation(token) if token else None
    if invite is None and settings.SIGNUP_MODE == "invite":
        return render(request, "registration/signup_closed.html", status=403)
    verify = settings.SIGNUP_VERIFY_EMAIL and invite is None
    # With verification, a taken name or address gets the same answer as a new account,
    # and its owner an email. (Without, a new account is logged in at once: no answer
    # could look the same, and no email proves the address.)
    form = SignupForm(
        request.POST or None, invite_email=invite.email if invite else "", quiet=verify
    )
    if request.method == "POST" and form.is_valid():
        if verify:
            return _signup_to_verify(request, form)
        user = form.save(commit=False)
        user.is_active = True
        user.save()
        Budget.for_user(user)
        return _welcome(request, user, invite)
    context = {"form": form, "invitation": invite, "token": token}
    return render(request, "registration/signup.html", context, status=400 if form.errors else 200)


def _signup_to_verify(request: HttpRequest, form: SignupForm) -> HttpResponse:
    """Create the inactive account and send its link; or, if the name or address is taken,
    email the address instead. The page is the same either way."""
    email = form.cleaned_data["email"]
    if not form.taken:
        user = form.save(commit=False)  # hashes the password
        user.is_active = False
        try:
            with transaction.atomic():
                user.save()
                Budget.for_user(user)
        except IntegrityError:  # the same name, signed up a moment ago
            form.taken = "username"
        else:
            accounts.send_verification(user)
    if form.taken:
        make_password(form.cleaned_data["password1"])  # as long as a new account takes
        accounts.send_signup_taken(email, form.cleaned_data["username"], form.taken)
    return render(request, "registration/verify_sent.html", {"email": email})


def _welcome(request: HttpRequest, user: User, invite: Invitation | None) -> HttpResponse:
    login(request, user, backend=BACKEND)
    if invite is not None:
        try:
            member = teams.accept(invite, user)
        except teams.TeamError as e:
            messages.error(request, e.message)
        else:
            access.set_context(request, member)
            messages.success(request, f"Welcome, {user.username}! You joined {invite.team.name}.")
            return redirect("gallery")
    messages.success(
        request,
        f"Welcome, {user.username}! You have {cents(settings.DEFAULT_QUOTA_CENTS)} to spend.",
    )
    return redirect("gallery")


class Login(LoginView):
    """Django's login page; it also knows whether new accounts confirm their email first,
    so its "confirm your email" hint shows only where that is so."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["verify_email"] = settings.SIGNUP_VERIFY_EMAIL
        # Django's view sets site_name to the request's host ("localhost:8000"): the page
        # is branded with the product's name instead.
        context["site_name"] = settings.SITE_NAME
        return context


class PasswordResetConfirm(PasswordResetConfirmView):
    """Django's reset page, except that it always gets the owner in: it logs them in, and
    lifts the login pauses of the account from every address (django-axes). Whoever
    reads the account's email may log in, however many wrong passwords others sent.
    (A subclass: Django's view has no hook for the pause.)"""

    post_reset_login = True
    post_reset_login_backend = BACKEND
    success_url = reverse_lazy("gallery")

    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())
        messages.success(self.request, "Your new password is set, and you are logged in.")
        return response


@login_not_required
@require_GET
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    user = accounts.user_to_verify(token)
    if user is None:
        return render(request, "registration/verify_failed.html", status=400)
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
    return _welcome(request, user, None)


@login_not_required
@require_http_methods(["GET", "POST"])
def verify_resend(request: HttpRequest) -> HttpResponse:
    """Ask for a new verification link (the old one expired or got lost)."""
    if request.method == "POST":
        email = request.POST.get("email", "")
        accounts.resend_verification(email)
        return render(request, "registration/verify_sent.html", {"email": email})
    return render(request, "registration/verify_resend.html")


@require_http_methods(["GET", "POST"])
def account(request: AuthedRequest) -> HttpResponse:
    """The account page: delete the account (with its password)."""
    blockers = accounts.deletion_blockers(request.user)
    error = ""
    if request.method == "POST":
        if not request.user.check_password(request.POST.get("password", "")):
            error = "That password is not right."
        else:
            try:
                accounts.delete_account(request.user)
            except accounts.AccountError as e:
                error = e.message
            else:
                logout(request)
                messages.success(request, "Your account and your personal images are deleted.")
                return redirect("login")
    context = {"blockers": blockers, "error": error}
    return render(request, "registration/account.html", context, status=400 if error else 200)
