"""An embedded, APIXO-compatible stand-in for APIXO's asynchronous image-upscaler API.

It plays an outside service: it shares no code with the Django app. Run it with
`python -m apixo_engine`; see README.md in this folder.
"""

from __future__ import annotations

__version__ = "1.0.0"
