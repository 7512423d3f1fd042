"""Routes of the team pages, the context switcher and invitation links."""

from __future__ import annotations

from django.urls import path

from teams import views

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("teams/<uuid:code>/", views.team_detail, name="team_detail"),
    path("teams/<uuid:code>/invite/", views.team_invite, name="team_invite"),
    path(
        "teams/<uuid:code>/invitations/<uuid:invitation_code>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "teams/<uuid:code>/members/<uuid:member_code>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "teams/<uuid:code>/members/<uuid:member_code>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("teams/<uuid:code>/leave/", views.team_leave, name="team_leave"),
    path("teams/<uuid:code>/budget/", views.team_budget, name="team_budget"),
    path("context/", views.switch_context, name="switch_context"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
]
