"""The FastAPI app: versioned JSON endpoints under /v1, the page at /, OpenAPI docs at /docs.

Routes only translate HTTP to Engine calls; checks that need no body live in guard.Guard, which wraps
the app so that a refused request (bad host, foreign origin, missing token, wrong content type,
oversize body) never reaches the multipart parser.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, Form, Security, UploadFile
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles

from . import schemas as S
from .engine import Engine
from .errors import install_handlers
from .guard import Guard
from .limits import Limits

STATIC = Path(__file__).parent / "static"
UPLOAD_PATHS = {"/v1/identify", "/v1/verify", "/v1/predict", "/v1/enroll", "/v1/diarize"}
_bearer = HTTPBearer(auto_error=False, description="the server's token (--token / VOXPRINT_TOKEN), for writes")


def is_write(method: str, path: str) -> bool:
    return (method == "POST" and path == "/v1/enroll") or (method == "DELETE" and path.startswith("/v1/speakers/"))


def is_upload(method: str, path: str) -> bool:
    return method == "POST" and path in UPLOAD_PATHS


def _files(audio) -> list:
    items = audio if isinstance(audio, list) else [audio]
    return [(u.file, u.filename) for u in items]


def create_app(recognizer, db=None, token: str | None = None, limits: Limits | None = None,
               threshold: float | None = None, loopback_only: bool = True, far: float | None = None) -> FastAPI:
    """An app serving `recognizer` with profiles in `db` (default: where the CLI keeps them, Recognizer.default_db).

    token: writes need it as a bearer token when set. loopback_only: answer only to loopback Host names.
    """
    limits = limits or Limits()
    engine = Engine(recognizer, db, limits, threshold, far)

    @asynccontextmanager
    async def lifespan(app):
        yield
        engine.close()

    app = FastAPI(title="voxprint", version="1", lifespan=lifespan,
                  description="Speaker recognition: identify, verify, enrol. Errors are "
                              '`{"error": "<code>", "message": "..."}`.')
    install_handlers(app)
    _routes(app, engine, token)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, token=token, max_bytes=limits.max_bytes, loopback_only=loopback_only,
                       is_write=is_write, is_upload=is_upload)
    return app


def _routes(app: FastAPI, engine: Engine, token: str | None) -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    audio_doc = "an audio file (wav, flac, ogg, mp3; any rate and length)"

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return page

    @app.get("/v1/health", response_model=S.Health, summary="model, sample rate, speakers enrolled")
    async def health():
        return {**await engine.read(engine.health), "token_required": bool(token)}

    @app.post("/v1/identify", response_model=S.Identify, summary="who is speaking (or 'unknown')")
    async def identify(audio: UploadFile = File(..., description=audio_doc)):
        return await engine.run(engine.identify, _files(audio))

    @app.post("/v1/diarize", response_model=S.Diarize, summary="who spoke when, with enrolled names")
    async def diarize(audio: UploadFile = File(..., description=audio_doc),
                      speakers: int | None = Form(None, ge=1, le=20, description="known speaker count")):
        return await engine.run(engine.diarize, _files(audio), speakers)

    @app.post("/v1/verify", response_model=S.Verify, summary="is this the claimed enrolled speaker")
    async def verify(name: str = Form(..., description="enrolled name claimed"),
                     audio: UploadFile = File(..., description=audio_doc)):
        return await engine.run(engine.verify, engine.known_name(name), _files(audio))

    if engine.has_classifier:

        @app.post("/v1/predict", response_model=S.Predict, summary="closed-set speaker of the model's classifier")
        async def predict(audio: UploadFile = File(..., description=audio_doc)):
            return await engine.run(engine.predict, _files(audio))

    @app.post("/v1/enroll", response_model=S.Enroll, dependencies=[Security(_bearer)],
              summary="add clips to a speaker's profile (token when configured)")
    async def enroll(name: str = Form(..., description="speaker name"),
                     audio: list[UploadFile] = File(..., description="one or more files: " + audio_doc)):
        return await engine.run(engine.enroll, engine.name(name), _files(audio))

    @app.get("/v1/speakers", response_model=S.Speakers, summary="enrolled speakers")
    async def speakers():
        return await engine.read(engine.speakers)

    @app.delete("/v1/speakers/{name}", response_model=S.Deleted, dependencies=[Security(_bearer)],
                summary="forget a speaker (token when configured)")
    async def forget(name: str):
        return await engine.run(engine.forget, engine.known_name(name))
