from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upscaler_site.settings")
application = get_wsgi_application()

# A web process killed mid-upload left its spooled file behind: sweep (older than an hour).
from jobs.sweep import sweep_at_start  # noqa: E402

sweep_at_start()
