"""`voxprint serve`: an HTTP API and a browser page on one loaded model and the CLI's profile store.

Modules: names (speaker-name rules), errors (JSON error bodies), guard (host/origin/token/size checks
before a body is parsed), uploads (spool and decode one upload), profiles (the in-memory profile matrix,
reloaded when the SQLite store changes), engine (inference off the event loop), app (the FastAPI app),
server (start-up checks and uvicorn), static/ (the page).
"""

from .app import create_app
from .limits import Limits

__all__ = ["Limits", "create_app"]
