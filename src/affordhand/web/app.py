"""`affordhand serve`: one page to upload a photo, mark the object, give or generate a description and see
the refined hand; a JSON API under it (OpenAPI schema at /openapi.json) that the page uses.

The app binds to 127.0.0.1 by default, refuses uploads that are too large or not images (by their
content, not their declared type) with a clear message, and turns every failure of a request into a JSON
error without stopping the server or naming its files. Job folders are bounded in number and age, a
rejected request keeps none, and all are removed when the server stops (SIGINT or SIGTERM).
"""

import base64
import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

import numpy as np

from affordhand.data.images import ImageTooLarge
from affordhand.errors import AffordhandError
from affordhand.web.guard import (
    BODY_TIMEOUT_S,
    HEADER_TIMEOUT_S,
    MULTIPART_SLACK,
    BodyLimit,
    JobQueue,
    header_timeout_protocol,
)

try:  # FastAPI resolves the endpoints' annotations at module level: import it here, not in the factory
    from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
except ImportError:  # the [web] extra is not installed; create_app says so
    FastAPI = None

GRACEFUL_S = 3  # seconds a stopping server gives requests in flight
ALLOWED_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
SNIFFED = ("JPEG", "MPO", "PNG", "WEBP")  # what Pillow must find inside an upload


class JobStore:
    """One folder per job under root: at most max_jobs, none older than max_age_s (the oldest go first);
    close() removes them all."""

    def __init__(self, root: Path, max_jobs: int = 32, max_age_s: float = 3600.0):
        self.root, self.max_jobs, self.max_age_s = root, max_jobs, max_age_s
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, float] = {}
        self._lock = threading.Lock()

    def new(self) -> tuple[str, Path]:
        """Return (job id, its new folder), after dropping jobs past the bounds."""
        with self._lock:
            now = time.monotonic()
            for job in [j for j, t in self._jobs.items() if now - t > self.max_age_s]:
                self._remove(job)
            # Room for the new job: the oldest of those left go.
            for job in sorted(self._jobs, key=self._jobs.get)[: max(0, len(self._jobs) - self.max_jobs + 1)]:
                self._remove(job)
            job = uuid.uuid4().hex[:12]
            self._jobs[job] = now
        folder = self.root / job
        folder.mkdir(parents=True)
        return job, folder

    def discard(self, job: str) -> None:
        with self._lock:
            self._remove(job)

    def _remove(self, job: str) -> None:
        self._jobs.pop(job, None)
        shutil.rmtree(self.root / job, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._jobs)

    def close(self) -> None:
        with self._lock:
            self._jobs.clear()
            shutil.rmtree(self.root, ignore_errors=True)


PAGE = Path(__file__).resolve().parent / "index.html"


class _Server:
    """What the routes share: the loaded models, the job store, the upload limit."""

    def __init__(self, prior, refiner, describer, store, max_upload_mb, queue):
        self.prior, self.refiner = prior, refiner
        self.describer, self.store, self.queue = describer, store, queue
        self.max_upload_mb, self.limit = max_upload_mb, int(max_upload_mb * 1024 * 1024)
        self._hidden = re.compile(re.escape(str(store.root)) + r"/(?:[0-9a-f]{12}/)?")

    def public(self, message: str) -> str:
        """The message without the server's own paths (job folders show as bare file names)."""
        return self._hidden.sub("", message)

    def save_upload(self, image) -> tuple:
        """Return (job, path) of the upload kept in a new job folder, or refuse it (and keep nothing)."""
        if image.content_type not in ALLOWED_TYPES:
            raise HTTPException(415, f"not an image: {image.content_type!r}; send JPEG, PNG or WebP")
        data = image.file.read(self.limit + 1)
        if len(data) > self.limit:
            raise HTTPException(413, f"image too large: the limit is {self.max_upload_mb:g} MB")
        found = _sniff(data)
        if found not in SNIFFED:
            raise HTTPException(415, f"not a JPEG, PNG or WebP image (found {found or 'no image'})")
        job, folder = self.store.new()
        path = folder / f"upload{ALLOWED_TYPES[image.content_type]}"
        path.write_bytes(data)
        return job, path

    @contextlib.contextmanager
    def kept_unless_failed(self, job: str):
        """Remove the job's folder when its request fails: a rejected upload leaves nothing behind."""
        try:
            yield
        except BaseException:
            self.store.discard(job)
            raise


def _add_error_handlers(app, server: _Server) -> None:
    @app.exception_handler(ImageTooLarge)
    async def _too_large(request: Request, exc: ImageTooLarge):
        return JSONResponse({"error": server.public(str(exc))}, status_code=413)

    @app.exception_handler(AffordhandError)
    async def _user_error(request: Request, exc: AffordhandError):
        return JSONResponse({"error": server.public(str(exc))}, status_code=400)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception):
        traceback.print_exception(exc, file=sys.stderr)  # the server's log has the details; the client, no paths
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server's log"}, status_code=500)


def _add_page_routes(app, server: _Server) -> None:
    import plotly

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return PAGE.read_text()

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js():
        script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(script, media_type="application/javascript")

    @app.get("/api/status")
    def status() -> dict:
        """What this server can do: whether a describe backend is configured, the upload limit."""
        return {
            "describe": server.describer is not None,
            "max_upload_mb": server.max_upload_mb,
            "prior": server.prior,
            "queued": server.queue.admitted,
            "max_queue": server.queue.size,
        }

    @app.get("/api/files/{job}/{name}")
    def files(job: str, name: str):
        """Download a file of a job (the record as JSON, the mesh as GLB)."""
        if not re.fullmatch(r"[0-9a-f]{12}", job) or not re.fullmatch(r"[\w.-]+", name):
            raise HTTPException(404, "no such file")
        root = server.store.root
        path = (root / job / name).resolve()
        if root.resolve() not in path.parents or not path.is_file() or path.suffix not in (".json", ".glb"):
            raise HTTPException(404, "no such file")
        return FileResponse(path, filename=name)


def _add_describe_route(app, server: _Server) -> None:
    from affordhand.photo.pipeline import parse_box

    @app.post("/api/describe")
    def describe(
        image: UploadFile = File(...), hand_box: str = Form(""), object_box: str = Form(""), side: str = Form("right")
    ) -> dict:
        """Describe the hand with the configured vision-language backend; returns the sentence and fields."""
        from affordhand.text.backends import ModelError
        from affordhand.text.describe import Item

        if server.describer is None:
            raise HTTPException(400, "no describe backend configured: start with --describe-backend openai")
        if side not in ("right", "left"):
            raise HTTPException(400, "side must be right or left")
        boxes = parse_box(hand_box), parse_box(object_box)
        job, path = server.save_upload(image)
        try:
            boxes = tuple(clip_box(b, path, name) for b, name in zip(boxes, ("hand_box", "object_box")))
            result = server.describer.run(Item("web", side, path, *boxes))
        except ModelError as exc:
            raise HTTPException(502, server.public(f"the description model failed: {exc}")) from None
        finally:
            server.store.discard(job)  # nothing of a description is served later
        return {"text": result["text"], "fields": result["fields"], "warnings": result["warnings"]}


def _add_refine_route(app, server: _Server) -> None:
    from affordhand.data.descriptions import check_sentence
    from affordhand.photo.pipeline import ImageOptions, parse_box, parse_fingers, process_image

    @app.post("/api/refine")
    async def refine(
        request: Request,
        image: UploadFile = File(...),
        text: str = Form(""),
        object_box: str = Form(""),
        occluded: str = Form(""),
        samples: int = Form(4),
    ) -> dict:
        """Detect hands in the image, refine them, and return per hand the overlay (PNG data URL), joints
        before and after (metres, camera frame), the record and download links."""
        if text:
            try:
                check_sentence(text, "the description")
            except AffordhandError as exc:
                raise HTTPException(400, str(exc)) from None
        if not 1 <= samples <= 16:
            raise HTTPException(400, "samples must be between 1 and 16")
        box, fingers = parse_box(object_box), parse_fingers(occluded)
        if not server.queue.admit():
            busy = f"busy: {server.queue.size} photos are waiting or being refined; try again in a minute"
            raise HTTPException(503, busy, headers={"Retry-After": "30"})
        try:
            job, path = server.save_upload(image)
            with server.kept_unless_failed(job):
                box = clip_box(box, path, "object_box")
                options = ImageOptions(
                    text=text or None,
                    object_box=box,
                    occluded=fingers,
                    samples=samples,
                    views=False,
                    device=server.refiner.device,
                )
                work = lambda: process_image(path, path.parent, options, server.refiner)  # noqa: E731
                found = await server.queue.run(work, request.is_disconnected)
                if found is None:  # the client went away, or the server is stopping: nobody wants it
                    raise HTTPException(503, "cancelled: the client left or the server is stopping")
                hands = [_hand_entry(e, job, path.parent) for e in found]
        finally:
            server.queue.leave()
        if not hands:
            server.store.discard(job)  # nothing to download
        return {"job": job, "hands": hands, "message": "" if hands else "no hand found in this image"}


def create_app(
    prior: str = "default",
    hand_model: str = "builtin",
    mano_dir=None,
    skeleton=None,
    describer=None,
    max_upload_mb: float = 8.0,
    work_dir: str | None = None,
    max_jobs: int = 32,
    max_age_s: float = 3600.0,
    device: str = "cpu",
    max_queue: int = 8,
    request_timeout_s: float = BODY_TIMEOUT_S,
):
    """Return the FastAPI app (prior and hand model loaded once); at most max_queue photos wait or run."""
    if FastAPI is None:
        raise AffordhandError("the web page needs: pip install 'affordhand[web]'")
    from affordhand.hand.surface import require_meshing
    from affordhand.refinement.loader import load_refiner

    require_meshing()
    refiner = load_refiner(prior, hand_model=hand_model, mano_dir=mano_dir, skeleton=skeleton, device=device)
    store = JobStore(Path(work_dir or tempfile.mkdtemp(prefix="affordhand-web-")), max_jobs, max_age_s)
    server = _Server(prior, refiner, describer, store, max_upload_mb, JobQueue(max_queue))
    _start_detector()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        server.queue.closing = True  # waiting jobs are dropped
        store.close()  # uvicorn's graceful shutdown, on SIGINT and SIGTERM alike

    description = "Refine 3D hands in photos with an affordance prior."
    app = FastAPI(title="affordhand", version="1", lifespan=lifespan, description=description)
    for add in (_add_error_handlers, _add_page_routes, _add_describe_route, _add_refine_route):
        add(app, server)
    app.add_middleware(BodyLimit, limit=server.limit + MULTIPART_SLACK, timeout_s=request_timeout_s)
    app.state.work_dir = store.root
    app.state.jobs = store
    return app


def _hand_entry(entry: dict, job: str, folder: Path) -> dict:
    """Return one hand of a refine response; its record is written beside its mesh for download."""
    from affordhand.data.records import dumps_record

    rec, files = entry["record"], entry["files"]
    record_path = folder / f"{Path(files['mesh']).stem}.json"
    record_path.write_text(dumps_record(rec) + "\n")
    return {
        "id": rec["id"],
        "side": rec["side"],
        "text": entry["text"],
        "note": entry["note"],
        "mode": entry["mode"],
        "occluded": entry["occluded"],
        "reprojection_px": entry["reprojection_px"],
        "overlay": "data:image/png;base64," + base64.b64encode(Path(files["overlay"]).read_bytes()).decode(),
        "joints_before": entry["joints_before"].tolist(),
        "joints_after": entry["joints_after"].tolist(),
        # wrist-relative like the joints, to 0.1 mm: the page draws it under the skeletons
        "surface": {
            "vertices": np.round(entry["surface"][0], 4).tolist(),
            "faces": entry["surface"][1].tolist(),
        },
        "joint_uncertainty_mm": None
        if rec.get("joint_uncertainty_mm") is None
        else [round(float(v), 2) for v in rec["joint_uncertainty_mm"]],
        "record_url": f"/api/files/{job}/{record_path.name}",
        "mesh_url": f"/api/files/{job}/{Path(files['mesh']).name}",
    }


def clip_box(box: tuple | None, path: Path, name: str) -> tuple | None:
    """Return a box (x0, y0, x1, y1) clipped to the image at path, or None; a box outside it is refused."""
    if box is None:
        return None
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h))
    if x1 <= x0 or y1 <= y0:
        raise HTTPException(400, f"{name} lies outside the {w} x {h} image")
    return (x0, y0, x1, y1)


def _sniff(data: bytes) -> str | None:
    """Return the image format Pillow finds in the bytes (from the header only), or None."""
    import io

    from PIL import Image, UnidentifiedImageError

    from affordhand.data.images import check_size

    try:
        with Image.open(io.BytesIO(data)) as im:
            check_size(im.size, "the upload")  # refused before it is stored or decoded
            return im.format
    except Image.DecompressionBombError:
        raise ImageTooLarge("the upload is over the image size limit") from None
    except (UnidentifiedImageError, OSError):
        return None


def _start_detector() -> None:
    """Start MediaPipe now, from the main thread: request threads then never print its start-up lines."""
    try:
        from affordhand.photo.detect import warm_up

        warm_up()
    except AffordhandError:  # MediaPipe is missing: /api/refine says so when asked
        pass


def serve(host: str = "127.0.0.1", port: int = 8000, **kwargs) -> None:
    """Run the app with uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise AffordhandError("the web page needs: pip install 'affordhand[web]'") from None
    app = create_app(**kwargs)
    print(f"affordhand: serving on http://{host}:{port}/ (uploads kept in {app.state.work_dir})", flush=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=header_timeout_protocol(min(HEADER_TIMEOUT_S, kwargs.get("request_timeout_s", HEADER_TIMEOUT_S)))
        or "auto",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=GRACEFUL_S,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        shutil.rmtree(app.state.work_dir, ignore_errors=True)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        # A refinement a stopped server was running cannot be interrupted inside torch: its results are
        # already removed, so the process ends now instead of computing them for nobody.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
