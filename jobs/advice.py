"""What to tell a user about a failed job, keyed by its fail code.

APIXO's task failure codes and their advice come from the contract
(shared/apixo/image-upscaler.md, "Task failure codes"); the others are our own, for jobs
that failed before or after APIXO's part.
"""

from __future__ import annotations

ADVICE = {
    # APIXO's task failure codes.
    "ImageFormatIncorrect": "APIXO rejected the input image format. Use a direct public JPG, PNG or WebP URL.",
    "SensitiveContent": "The input or output was rejected by safety checks. Use a different image.",
    "RateLimited": "APIXO's upstream rate limit was reached. Retry in a little while.",
    "Timeout": "The upscale did not finish in time. Retry; for 8k, callback mode helps.",
    "Unknown error": "An unmapped upstream failure. Retry, or contact support with the task ID.",
    # Older codes other APIXO pages mention.
    "IMAGE_TOO_LARGE": "The image is too large. Resize it to under 10 MB and retry.",
    "UNSUPPORTED_FORMAT": "The image format is not supported. Use JPG, PNG or WebP.",
    "INVALID_IMAGE_URL": "APIXO could not use the image URL. Use a direct public link to the image.",
    "PROCESSING_TIMEOUT": "The upscale did not finish in time. Retry.",
    # Ours.
    "SourceUnavailable": "We could not download the source image. Check that the link is public and points at the image itself.",
    "SourceInvalid": "The link does not lead to a JPG, PNG or WebP image.",
    "Rejected": "APIXO rejected the request. Nothing was charged.",
    "Unauthorized": "APIXO refused the API key. An admin needs to check APIXO_API_KEY. Nothing was charged.",
    "InsufficientBalance": "The APIXO account has no balance left. An admin needs to top it up. Nothing was charged.",
    "Forbidden": "The APIXO key cannot use this model. An admin needs to check its permissions.",
    "TaskNotFound": "APIXO no longer knows this task. Retry.",
    "ResultUnavailable": "The result could not be downloaded from APIXO. Retry.",
    "Unavailable": "APIXO could not be reached for a long time. Retry later. Nothing was charged.",
}

GENERIC = "The upscale failed. Retry, or contact support with the task ID."


def advice_for(code: str) -> str:
    return ADVICE.get(code, GENERIC)
