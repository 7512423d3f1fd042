"""Routes for teams, share links, accounts policy, the admin spend review and the
development pages."""

from __future__ import annotations

from django.urls import path

from jobs import views_accounts, views_dev, views_share, views_spend, views_teams

urlpatterns = [
    # Share links: the only public pages of a job.
    path("jobs/<uuid:code>/share/", views_share.share_create, name="share_create"),
    path("share/<str:token>/", views_share.share_page, name="share_page"),
    path("share/<str:token>/revoke/", views_share.share_revoke, name="share_revoke"),
    path(
        "share/<str:token>/result/",
        views_share.share_file,
        {"kind": "result"},
        name="share_result",
    ),
    path(
        "share/<str:token>/source/",
        views_share.share_file,
        {"kind": "source"},
        name="share_source",
    ),
    # Teams.
    path("teams/", views_teams.team_list, name="team_list"),
    path("teams/<uuid:code>/", views_teams.team_detail, name="team_detail"),
    path("teams/<uuid:code>/invite/", views_teams.team_invite, name="team_invite"),
    path(
        "teams/<uuid:code>/invitations/<uuid:invitation_code>/revoke/",
        views_teams.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "teams/<uuid:code>/members/<uuid:member_code>/role/",
        views_teams.member_role,
        name="member_role",
    ),
    path(
        "teams/<uuid:code>/members/<uuid:member_code>/remove/",
        views_teams.member_remove,
        name="member_remove",
    ),
    path("teams/<uuid:code>/leave/", views_teams.team_leave, name="team_leave"),
    path("teams/<uuid:code>/budget/", views_teams.team_budget, name="team_budget"),
    path("context/", views_teams.switch_context, name="switch_context"),
    path("invite/<str:token>/", views_teams.invitation, name="invitation"),
    # The admin spend review.
    path("spend/", views_spend.spend_page, name="spend"),
    path("spend/ledger.csv", views_spend.spend_csv, name="spend_csv"),
    path("spend/refund/", views_spend.spend_refund, name="spend_refund"),
    path("spend/quota/", views_spend.spend_quota, name="spend_quota"),
    # Accounts policy.
    path("accounts/signup/", views_accounts.signup, name="signup"),
    path("accounts/verify/", views_accounts.verify_resend, name="verify_resend"),
    path("accounts/verify/<str:token>/", views_accounts.verify_email, name="verify_email"),
    path("accounts/account/", views_accounts.account, name="account"),
    # Development only (DEBUG and staff; 404 otherwise).
    path("dev/emails/", views_dev.dev_emails, name="dev_emails"),
]
