"""jobs' receivers of Django's signals, connected in JobsConfig.ready.

What could end a session's right to a gallery sends its next poll the long way
(jobs.versions explains why).
"""

from __future__ import annotations

from typing import Any

from jobs import versions
from jobs.models import Membership, Team


def user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save of a user (password changed, deactivated...): their galleries' counters."""
    codes = Membership.objects.filter(user_id=instance.pk).values_list("team__code", flat=True)
    for name in [versions.key(instance.pk, None), *(versions.key(None, code) for code in codes)]:
        versions.bump_key(name)


def membership_ended(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of a membership: the team's counter, so the ex-member's next poll is
    checked (and answered 404)."""
    code = Team.objects.filter(pk=instance.team_id).values_list("code", flat=True).first()
    if code is not None:
        versions.bump_key(versions.key(None, code))
