"""Account policy: email verification for new accounts, and deleting an account.

Verification uses Django's own switch: an unverified account is inactive, so it can't log
in. The link is signed (lib.signing) and works only for an account that has never
logged in, so it can't reactivate an account an admin deactivated later.
"""

from __future__ import annotations

import ipaddress
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse

from jobs.models import Batch, Job, Membership, Team
from jobs.retention import delete_files, file_names
from lib import emails, signing

VERIFY_SALT = "accounts.verify"


class AccountError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- email verification -------------------------------------------------------------------


def verification_url(user: User) -> str:
    token = signing.sign({"u": user.pk, "e": user.email}, VERIFY_SALT)
    return settings.SITE_URL + reverse("verify_email", args=[token])


def send_verification(user: User) -> None:
    context = {"user": user, "url": verification_url(user)}
    emails.send(
        f"Confirm your email for {settings.SITE_NAME}",
        "registration/verify_email.txt",
        context,
        [user.email],
    )


def user_to_verify(token: str) -> User | None:
    """The unverified account a link is for, or None if the link is bad, old or used."""
    data = signing.unsign(token, VERIFY_SALT, settings.SIGNUP_VERIFY_MAX_AGE)
    if data is None:
        return None
    return User.objects.filter(
        pk=data.get("u"), email=data.get("e"), is_active=False, last_login__isnull=True
    ).first()


def resend_verification(email: str) -> None:
    """Send a fresh link to the unverified account with this address, if there is one.

    Says nothing either way (the page answers the same), so it can't probe for accounts.
    """
    user = User.objects.filter(
        email__iexact=email.strip(), is_active=False, last_login__isnull=True
    ).first()
    if user is not None:
        send_verification(user)


def send_signup_taken(email: str, username: str, taken: str) -> None:
    """Someone signed up with an address (`taken` == "email") or a user name ("username")
    that has an account already. The sign-up page said what it says for any new account;
    this email tells the address's owner what really happened."""
    existing = User.objects.filter(email__iexact=email).first() if taken == "email" else None
    if existing is not None and not existing.is_active and existing.last_login is None:
        send_verification(existing)  # their own sign-up, never confirmed: a fresh link
        return
    context = {
        "existing": existing,
        "username": username,
        "login_url": settings.SITE_URL + reverse("login"),
        "reset_url": settings.SITE_URL + reverse("password_reset"),
        "signup_url": settings.SITE_URL + reverse("signup"),
    }
    emails.send(
        f"Your sign-up at {settings.SITE_NAME}",
        "registration/signup_taken_email.txt",
        context,
        [email],
    )


# --- login throttling ---------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The client's address, for django-axes (AXES_CLIENT_IP_CALLABLE).

    REMOTE_ADDR, unless that is one of TRUSTED_PROXIES: then the right-most address in
    X-Forwarded-For that is not a trusted proxy itself (the one our proxy saw; entries to
    its left came from the client and may be forged). REMOTE_ADDR if the header is missing
    or garbled.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in proxies)

    if not trusted(remote):
        return remote
    for entry in reversed(str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")):
        entry = entry.strip()
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            return remote
        if not trusted(entry):
            return entry
    return remote


# --- deleting an account ------------------------------------------------------------------


def _solo_team_ids(user: User) -> list[int]:
    """The teams whose only member is this user."""
    return [
        m.team_id
        for m in Membership.objects.filter(user=user)
        if not Membership.objects.filter(team_id=m.team_id).exclude(user=user).exists()
    ]


def _doomed_jobs(user: User) -> QuerySet[Job]:
    """The jobs that go with the account: personal ones, and those of its solo teams."""
    return Job.objects.filter(Q(user=user, team__isnull=True) | Q(team_id__in=_solo_team_ids(user)))


def deletion_blockers(user: User) -> list[str]:
    """Why the account can't be deleted yet (empty if it can)."""
    blockers = []
    in_flight = _doomed_jobs(user).filter(state__in=Job.IN_FLIGHT).count()
    if in_flight:
        blockers.append(
            f"{in_flight} of your images {'is' if in_flight == 1 else 'are'} still being "
            "processed. Wait for them to finish (or cancel the queued ones) first."
        )
    for member in Membership.objects.filter(user=user, role=Membership.Role.OWNER):
        team = member.team
        others = team.memberships.exclude(user=user)
        if others.exists() and not others.filter(role=Membership.Role.OWNER).exists():
            blockers.append(
                f"You are the only owner of {team.name}. Make another member an owner first."
            )
    return blockers


def delete_account(user: User) -> None:
    """Delete the account and its personal images. Team images stay with their teams (now
    without a submitter's name); the ledger stays whole (Charge.user becomes empty).

    A team whose only member is this user goes too, with its images: nobody could see them.
    Raise AccountError if deletion_blockers() has anything to say.
    """
    with transaction.atomic():
        if blockers := deletion_blockers(user):
            raise AccountError(" ".join(blockers))
        solo_teams = _solo_team_ids(user)
        doomed = _doomed_jobs(user)
        names = file_names(doomed)
        doomed.delete()
        Batch.objects.filter(user=user, jobs__isnull=True).delete()
        Team.objects.filter(pk__in=solo_teams).delete()  # budgets stay: the ledger needs them
        user.delete()
        transaction.on_commit(partial(delete_files, names))
