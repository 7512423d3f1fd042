"""Temporary files a dead process left behind: uploads Django spooled to disk (a web
process killed mid-upload) and result downloads (a worker killed mid-download).

Django names a spooled upload `tmp<random>.upload<.ext>` in FILE_UPLOAD_TEMP_DIR (the
system temp dir by default) and deletes it when the request ends, which a killed process
never reaches. A file still being written is younger than the age limit (every chunk
touches it, and gunicorn's timeout ends a stalled request long before).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)
MAX_AGE = 3600


def temp_dirs() -> list[tuple[Path, str]]:
    """(folder, file name pattern) pairs that hold only our temporary files."""
    uploads = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())
    return [(uploads, "tmp*.upload*"), (Path(settings.MEDIA_ROOT) / "tmp", "*")]


def sweep_temp_files(max_age: float = MAX_AGE) -> int:
    """Delete our temporary files older than max_age seconds. Return how many went.

    Run hourly by cron (the worker's and the reconciler's folders) and once as each web
    process starts (its own temp dir, which in a container only it can see).
    """
    cutoff = time.time() - max_age
    removed = 0
    for folder, pattern in temp_dirs():
        for path in folder.glob(pattern):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:  # gone meanwhile, or not ours to delete
                continue
    if removed:
        logger.info("Swept %d temporary file%s left behind", removed, "s"[: removed != 1])
    return removed


def sweep_at_start() -> None:
    """sweep_temp_files(), never stopping a web process from starting."""
    try:
        sweep_temp_files()
    except Exception:
        logger.exception("Temporary file sweep failed")
