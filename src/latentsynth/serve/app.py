"""The instrument's server: a FastAPI app over one or more frame models (``create_app``), the page in
``static/``, and :func:`background_server` (uvicorn on a loopback port in a thread, for tests and scripts).

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``):

* ``GET /api/models``, ``GET /api/models/{name}``: latent size, hop, sample rate, vocabularies, pitch range...
* ``GET /api/models/{name}/web.json``, ``GET /api/models/{name}/weights.bin``: a harmonic model's decoder for the
  page's AudioWorklet (:mod:`latentsynth.synth.web`): the page plays it with no further request;
* ``POST /api/models/{name}/plane``: a plane (PCA, LDA over instruments, two dims) with the training codes and
  notes projected into it and the remaining directions (the page's sliders);
* ``POST /api/models/{name}/decode``: a point or a path (+ labels, duration, constant speed) -> WAV or raw
  float32 PCM (``format=f32``; headers ``X-Sample-Rate``, ``X-Samples``, ``X-Render-Ms``);
* ``POST /api/models/{name}/encode``: an uploaded sound file -> its path (path file + plane coordinates);
* ``POST /api/models/{name}/heatmap``: density of the training codes or a descriptor of the decoded spectra on a
  grid of the plane;
* ``POST /api/models/{name}/path``: a generated path (lerp, circle, spiral, walk, geodesic...) with its
  projection; ``POST /api/models/{name}/project``: codes -> plane coordinates.

Every bad request (malformed JSON, NaN, wrong latent size, unknown model or label, too large) is a 4xx with a
``detail`` message. Rendering runs in the threadpool of the sync endpoints, with the torch threads of the caller
(one unless asked).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from ..dsp.audiofile import wav_bytes
from . import api
from .core import Instrument

STATIC = Path(__file__).parent / "static"
MAX_BODY = 5 * 1024 * 1024  # bytes of one request (a 20,000-point path of 16 dims is about 3.5 MB of JSON)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 (declared or streamed)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_big = JSONResponse({"detail": f"request body over the limit of {self.limit} bytes"}, status_code=413)
        try:
            if declared is not None and int(declared) > self.limit:
                return await too_big(scope, receive, send)
        except ValueError:
            return await JSONResponse({"detail": "bad Content-Length"}, status_code=400)(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        # read the whole body first (at most ``limit`` bytes), then replay it to the app
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                return await too_big(scope, receive, send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)




def model_names(folders: Sequence[str | Path]) -> list[str]:
    """Short unique names of model folders: the folder name, or parent/name where two share it."""
    paths = [Path(f) for f in folders]
    names = [p.resolve().name for p in paths]
    out = []
    for p, n in zip(paths, names, strict=True):
        out.append(f"{p.resolve().parent.name}-{n}" if names.count(n) > 1 else n)
    if len(set(out)) != len(out):
        out = [f"{n}-{i}" for i, n in enumerate(out)]
    return out


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (loaded once), or None elsewhere."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return trim


def release_memory() -> None:
    """Give the memory freed by a long render back to the system (glibc ``malloc_trim``; nothing elsewhere): each
    threadpool thread allocates from its own arena, and without this every arena keeps its peak."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


LONG_RENDER_S = 0.25  # renders longer than this release their memory afterwards (a 0.5 s block takes ~12 ms)


class RenderSlots:
    """At most ``n`` renders at once (decode, heatmap, path), however many clients ask: the memory of the renders
    in flight stays bounded (each long one holds its audio and the decoder's frames), and a long one gives its
    memory back when done (:func:`release_memory`). A request whose client has gone away before its render
    starts is not rendered at all."""

    def __init__(self, n: int):
        self.n = n
        self.slots = threading.BoundedSemaphore(n)
        self.skipped = 0  # requests dropped by their client before their render started
        self.pending = 0  # requests between their arrival here and the end of their render (or skip)

    async def run(self, request: Request, fn, *args):
        """``fn(*args)`` in the threadpool once a slot is free; None (and nothing rendered) if the client left."""
        self.pending += 1  # the event loop's thread only: no lock needed
        try:
            return await self._run(request, fn, *args)
        finally:
            self.pending -= 1

    async def _run(self, request: Request, fn, *args):
        from anyio import from_thread
        from starlette.concurrency import run_in_threadpool

        if await request.is_disconnected():
            self.skipped += 1
            return None

        def limited():
            with self.slots:
                if from_thread.run(request.is_disconnected):
                    self.skipped += 1
                    return None
                t0 = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    if time.perf_counter() - t0 > LONG_RENDER_S:
                        release_memory()

        return await run_in_threadpool(limited)


GONE = 499  # the status logged for a request whose client closed the connection before its answer (nginx's)


def add_error_handlers(app: FastAPI) -> None:
    """Every bad request as JSON ``{"detail": "field: message; ..."}``: 422 for request validation (pydantic
    models, malformed JSON), 400 for a bad value found by the synthesis code (SynthError, LabelError, ...). The
    server words these for HTTP clients; configuration errors are worded by ``config.format_validation_error``."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        msgs = []
        for e in err.errors()[:5]:
            if e.get("type") == "json_invalid":
                msgs.append(f"malformed JSON at character {e.get('loc', ('', '?'))[-1]}: "
                            f"{(e.get('ctx') or {}).get('error', e.get('msg'))}")
                continue
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            msgs.append(f"{loc or 'body'}: {e.get('msg')}")
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))}
                  for e in err.errors()[:20]]
        return JSONResponse({"detail": "; ".join(msgs), "errors": errors}, status_code=422)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, err: ValueError):  # SynthError, LabelError, PathFileError, BadAudio
        if isinstance(err, ValidationError):
            msgs = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5]]
            return JSONResponse({"detail": "; ".join(msgs)}, status_code=422)
        return JSONResponse({"detail": str(err)}, status_code=400)


BAD = {400: {"model": api.Problem}, 404: {"model": api.Problem}, 413: {"model": api.Problem},
       422: {"model": api.Problem}}  # the error answers every model endpoint documents


def instrument_lookup(instruments: dict[str, Instrument]) -> Callable[[str], Instrument]:
    """``get(name)``: the served instrument ``name``, or a 404 naming the served ones."""
    def get(name: str) -> Instrument:
        if name not in instruments:
            raise HTTPException(404, f"unknown model {name!r}; served: {', '.join(instruments)}")
        return instruments[name]
    return get


def add_page(app: FastAPI) -> None:
    """``GET /``: the instrument's page, and ``/static``: its scripts and styles."""
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def add_model_routes(app: FastAPI, instruments: dict[str, Instrument], get: Callable[[str], Instrument]) -> None:
    """``GET /api/models``, ``GET /api/descriptors``, ``GET /api/models/{name}``: what is served."""
    @app.get("/api/models", response_model=list[api.ModelInfo])
    def list_models():
        return [m.info() for m in instruments.values()]

    @app.get("/api/descriptors", response_model=list[api.DescriptorOut])
    def descriptors():
        """The descriptors a heatmap can show (the page builds its menu from them)."""
        return api.descriptor_list()

    @app.get("/api/models/{name}", response_model=api.ModelInfo, responses=BAD)
    def model_info(name: str):
        return get(name).info()


def add_web_model_routes(app: FastAPI, get: Callable[[str], Instrument]) -> None:
    """``GET /api/models/{name}/web.json`` and ``/weights.bin``: a harmonic model's decoder for the page's
    AudioWorklet (made once per model: :meth:`Instrument.web_model`)."""
    def web(name: str) -> tuple[dict, bytes]:
        try:
            return get(name).web_model()
        except ValueError as err:  # not a harmonic model
            raise HTTPException(404, str(err)) from None

    @app.get("/api/models/{name}/web.json", responses=BAD)
    def web_manifest(name: str):
        """The web export's manifest of a harmonic model (``latentsynth.synth.web``; 404 for other models)."""
        return JSONResponse(web(name)[0])

    @app.get("/api/models/{name}/weights.bin", responses={**BAD, 200: {"content": {"application/octet-stream": {}}}})
    def web_weights(name: str):
        """The decoder's weights, float32 little-endian, laid out as ``web.json`` says."""
        return Response(web(name)[1], media_type="application/octet-stream")


def add_plane_routes(app: FastAPI, get: Callable[[str], Instrument]) -> None:
    """``POST /api/models/{name}/plane`` and ``/project``: planes of the latent space and codes projected."""
    @app.post("/api/models/{name}/plane", response_model=api.PlaneOut, responses=BAD)
    def plane(name: str, spec: api.PlaneSpec):
        return get(name).plane_out(spec)

    @app.post("/api/models/{name}/project", response_model=api.ProjectOut, responses=BAD)
    def project(name: str, req: api.ProjectRequest):
        return get(name).project(req)


def add_render_routes(app: FastAPI, get: Callable[[str], Instrument], renders: RenderSlots) -> None:
    """``POST /api/models/{name}/decode``, ``/heatmap``, ``/path``: the renders, each in a slot of ``renders``
    (:data:`GONE` when the client left before its render started)."""
    @app.post("/api/models/{name}/decode", responses={**BAD, 200: {"content": {"audio/wav": {},
                                                                               "application/octet-stream": {}}}})
    async def decode(name: str, req: api.DecodeRequest, request: Request):
        inst = get(name)
        out = await renders.run(request, inst.decode, req)
        if out is None:
            return Response(status_code=GONE)
        y, headers = out
        if req.format == "f32":
            return Response(y.astype("<f4").tobytes(), media_type="application/octet-stream", headers=headers)
        return Response(wav_bytes(y, inst.synth.spec.sample_rate), media_type="audio/wav", headers=headers)

    @app.post("/api/models/{name}/heatmap", response_model=api.HeatmapOut, responses=BAD)
    async def heatmap(name: str, req: api.HeatmapRequest, request: Request):
        out = await renders.run(request, get(name).heatmap, req)
        return Response(status_code=GONE) if out is None else out

    @app.post("/api/models/{name}/path", response_model=api.PathOut, responses=BAD)
    async def path(name: str, req: api.PathRequest, request: Request):
        out = await renders.run(request, get(name).make_path, req)
        return Response(status_code=GONE) if out is None else out


def add_upload_routes(app: FastAPI, get: Callable[[str], Instrument]) -> None:
    """``POST /api/models/{name}/encode``: an uploaded sound file of one note -> its path and plane coordinates."""
    @app.post("/api/models/{name}/encode", response_model=api.PathOut, responses=BAD)
    def encode(name: str, file: UploadFile = File(..., description="a sound file of one note"),
               pitch: float | None = Form(None, ge=0, le=127, allow_inf_nan=False),
               instrument: str | None = Form(None, max_length=64), dynamics: str | None = Form(None, max_length=64),
               style: str | None = Form(None, max_length=64),
               plane: str = Form("pca", pattern="^(pca|lda|dims)$"), dims: str | None = Form(None, max_length=16)):
        inst = get(name)
        try:
            spec = api.PlaneSpec(kind=plane, dims=tuple(int(v) for v in dims.split(",")) if dims else None)
        except ValueError as err:
            raise HTTPException(422, f"dims: two comma-separated latent dimensions, e.g. 0,1 ({err})") from None
        labels = api.Labels(pitch=pitch, instrument=instrument, dynamics=dynamics, style=style)
        inst.labels(labels)  # unknown names before reading the audio
        suffix = Path(file.filename or "note.wav").suffix.lower()
        if suffix not in (".wav", ".flac", ".aif", ".aiff", ".ogg"):
            suffix = ".wav"
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / f"upload{suffix}"
            dst.write_bytes(file.file.read())
            shown = file.filename or "upload"
            try:
                return inst.encode(dst, labels, spec)
            except (RuntimeError, OSError, EOFError, ValueError) as err:  # soundfile / audioread: not audio
                raise HTTPException(400, f"file: {str(err).replace(str(dst), shown)}") from None


def create_app(folders: Sequence[str | Path], max_body: int = MAX_BODY, max_renders: int | None = None) -> FastAPI:
    """The FastAPI app serving the models in ``folders`` (loaded now: a bad folder fails here, clearly);
    ``max_renders`` renders at once (default: the CPU cores, at least 2; see :class:`RenderSlots`). The routes
    are added by concern, in this order: page, models, web model files, planes, renders, uploads."""
    if not folders:
        raise ValueError("serve: give at least one model folder")
    instruments = {name: Instrument(name, f) for name, f in zip(model_names(folders), folders, strict=True)}
    app = FastAPI(title="latentsynth instrument", version="1",
                  description="Latent audio synthesis: planes of a model's latent space, decoding points and "
                              "paths into audio, encoding notes, heatmaps and path generators.")
    app.state.instruments = instruments
    app.state.renders = renders = RenderSlots(max_renders or max(2, os.cpu_count() or 2))
    app.add_middleware(BodyLimit, limit=max_body)
    get = instrument_lookup(instruments)
    add_error_handlers(app)
    add_page(app)
    add_model_routes(app, instruments, get)
    add_web_model_routes(app, get)
    add_plane_routes(app, get)
    add_render_routes(app, get, renders)
    add_upload_routes(app, get)
    return app


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` (0: any free port), as uvicorn binds it; a port that is
    taken or an address that cannot be bound -> ``ValueError`` saying so and what to do."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as err:
        raise ValueError(f"--host {host}: not an address of this machine ({err.strerror}); use 127.0.0.1") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ValueError(f"port {port} on {host} is taken (another server, perhaps an instrument already "
                             "running); stop it, or choose another port: --port 0 picks a free one") from None
        raise ValueError(f"--host {host} --port {port}: cannot listen there ({err.strerror}); use --host "
                         "127.0.0.1 and --port 0 (a free port), or a port above 1023") from None
    sock.listen(2048)  # connections wait in the backlog until the server accepts them: the printed address works
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread on ``host:port`` (0: a free port); yields the base URL and
    stops the server on exit."""
    import uvicorn

    sock = bind(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - t0 > 20:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
