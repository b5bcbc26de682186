"""Start-up for `voxprint serve`: refuse unsafe settings, load the model once, run uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os

from ..errors import VoxprintError
from .limits import Limits

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0, names, LAN IPs."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(given: str | None) -> str | None:
    """--token, else $VOXPRINT_TOKEN, else None (an empty value counts as none)."""
    token = given if given is not None else os.environ.get("VOXPRINT_TOKEN")
    return token or None


def check_exposure(host: str, token: str | None) -> None:
    """Listening beyond this machine without a token would let anyone on the network enrol and delete."""
    if not is_loopback(host) and not token:
        raise VoxprintError(
            f"refusing to listen on {host} without a token: anyone who can reach it could enrol and delete "
            "speakers; set VOXPRINT_TOKEN (or --token), or listen on 127.0.0.1"
        )


def _recognizer(run, engine: str):
    from ..inference import Recognizer

    if engine != "auto":
        return Recognizer(run, engine=engine)
    try:
        return Recognizer(run, engine="onnx")
    except VoxprintError:
        raise
    except Exception as e:  # e.g. a read-only model folder without model.onnx: export cannot write it
        log.warning("onnx engine unavailable (%s: %s); serving with torch", type(e).__name__, e)
        return Recognizer(run, engine="torch")


# On SIGTERM/SIGINT uvicorn stops accepting connections and lets requests in flight finish for up to this long
# (a replica taken out of a load balancer loses no answer); an upload at the max_seconds limit scores in
# well under it on 2 cores.
GRACE_S = 30


def pin_threads() -> None:
    """One compute thread per request. `limits.workers` requests at once then use that many cores, instead of
    each one starting a thread per core and all of them fighting over the same cores. numpy's OpenBLAS too:
    its worker threads spin after every product (the AS-norm cohort scores one per request), which cost ~40 %
    more CPU per identify than the product itself (measured with py-spy and /proc CPU ticks, 1 to 4 clients)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def serve(run, db=None, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          limits: Limits | None = None, engine: str = "auto", threshold: float | None = None,
          far: float | None = None) -> None:
    """Load the model at `run`, then serve until interrupted.

    engine 'auto' is onnxruntime when the model can be had as ONNX (measured ~25 % less CPU per request
    than torch for the shipped CNN, see benchmarks/serve_load.py), else torch.
    """
    import uvicorn

    from .app import create_app

    token = resolve_token(token)
    check_exposure(host, token)
    if not 0 <= port <= 65535:
        raise VoxprintError(f"port {port} is not between 0 and 65535")
    from ..log import setup

    # timestamps on voxprint's own handler (a root handler from basicConfig printed every line twice)
    setup(fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pin_threads()
    recognizer = _recognizer(run, engine)
    if threshold is None and recognizer.scorer is None:  # no cohort: the calibrated cosine threshold decides
        try:
            recognizer.calibration()
        except VoxprintError as e:
            raise VoxprintError(f"{e} (or start with --threshold)") from None
    app = create_app(recognizer, db, token, limits or Limits(), threshold, loopback_only=is_loopback(host), far=far)
    shown = f"[{host}]" if ":" in host else host
    log.info("serving %s at http://%s:%d/ (API docs at /docs); writes %s", recognizer.name, shown, port,
             "need the token" if token else "are open to this machine")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False,
                timeout_graceful_shutdown=GRACE_S)
