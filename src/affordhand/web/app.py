"""`affordhand serve`: one page to upload a photo, mark the object, give or generate a description and see
the refined hand; a JSON API under it (OpenAPI schema at /openapi.json) that the page uses.

The app binds to 127.0.0.1 by default, refuses uploads that are too large or not images with a clear
message, and turns every failure of a request into a JSON error without stopping the server.
"""

import base64
import shutil
import tempfile
import uuid
from pathlib import Path

from affordhand.errors import AffordhandError

try:  # FastAPI resolves the endpoints' annotations at module level: import it here, not in the factory
    from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
except ImportError:  # the [web] extra is not installed; create_app says so
    FastAPI = None

ALLOWED_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
PAGE = Path(__file__).resolve().parent.parent / "assets" / "web" / "index.html"


def create_app(prior: str = "default", hand_model: str = "builtin", mano_dir=None, skeleton=None,
               describer=None, max_upload_mb: float = 8.0, work_dir: str | None = None):
    """Return the FastAPI app (prior and hand model loaded once)."""
    if FastAPI is None:
        raise AffordhandError("the web page needs: pip install 'affordhand[web]'")
    import plotly

    from affordhand.data.records import dumps_record
    from affordhand.frontend.pipeline import ImageOptions, parse_box, parse_fingers, process_image
    from affordhand.hand import load_hand_model
    from affordhand.prior.model import load_prior, prior_skeleton

    if skeleton is None and hand_model == "builtin":
        skeleton = prior_skeleton(prior)  # the skeleton calibrated with the prior, if it has one
    hand = load_hand_model(hand_model, mano_dir, skeleton)
    prior_model = load_prior(prior)
    root = Path(work_dir or tempfile.mkdtemp(prefix="affordhand-web-"))
    limit = int(max_upload_mb * 1024 * 1024)
    app = FastAPI(title="affordhand", version="1", description="Refine 3D hands in photos with an affordance prior.")

    @app.exception_handler(AffordhandError)
    async def _user_error(request: Request, exc: AffordhandError):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception):
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return PAGE.read_text()

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="application/javascript")

    @app.get("/api/status")
    def status() -> dict:
        """What this server can do: whether a describe backend is configured, the upload limit."""
        return {"describe": describer is not None, "max_upload_mb": max_upload_mb, "prior": prior}

    def _save_upload(image: UploadFile) -> tuple[str, Path]:
        if image.content_type not in ALLOWED_TYPES:
            raise HTTPException(415, f"not an image: {image.content_type!r}; send JPEG, PNG or WebP")
        data = image.file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"image too large: the limit is {max_upload_mb:g} MB")
        job = uuid.uuid4().hex[:12]
        folder = root / job
        folder.mkdir(parents=True)
        path = folder / f"upload{ALLOWED_TYPES[image.content_type]}"
        path.write_bytes(data)
        return job, path

    @app.post("/api/describe")
    def describe(image: UploadFile = File(...), hand_box: str = Form(""), object_box: str = Form(""),
                 side: str = Form("right")) -> dict:
        """Describe the hand with the configured vision-language backend; returns the sentence and fields."""
        from affordhand.text.backends import ModelError
        from affordhand.text.describe import Item

        if describer is None:
            raise HTTPException(400, "no describe backend configured: start with --describe-backend openai")
        _, path = _save_upload(image)
        try:
            result = describer.run(Item("web", side, path, parse_box(hand_box), parse_box(object_box)))
        except ModelError as exc:
            raise HTTPException(502, f"the description model failed: {exc}") from None
        return {"text": result["text"], "fields": result["fields"], "warnings": result["warnings"]}

    @app.post("/api/refine")
    def refine(image: UploadFile = File(...), text: str = Form(""), object_box: str = Form(""),
               occluded: str = Form(""), samples: int = Form(4)) -> dict:
        """Detect hands in the image, refine them, and return per hand the overlay (PNG data URL), joints
        before and after (metres, camera frame), the record and download links."""
        if text and not text.startswith(("A right hand", "A left hand")):
            raise HTTPException(400, 'the description must start with "A right hand" or "A left hand"')
        if not 1 <= samples <= 16:
            raise HTTPException(400, "samples must be between 1 and 16")
        job, path = _save_upload(image)
        options = ImageOptions(text=text or None, object_box=parse_box(object_box), occluded=parse_fingers(occluded),
                               samples=samples)
        entries = process_image(path, path.parent, options, hand, prior_model)
        hands = []
        for e in entries:
            rec = e["record"]
            record_path = path.parent / f"{Path(e['files']['mesh']).stem}.json"
            record_path.write_text(dumps_record(rec) + "\n")
            hands.append({
                "id": rec["id"], "side": rec["side"], "text": e["text"], "note": e["note"], "mode": e["mode"],
                "occluded": e["occluded"], "reprojection_px": e["reprojection_px"],
                "overlay": "data:image/png;base64," + base64.b64encode(Path(e["files"]["overlay"]).read_bytes()).decode(),
                "joints_before": e["joints_before"].tolist(), "joints_after": e["joints_after"].tolist(),
                "record_url": f"/api/files/{job}/{record_path.name}",
                "mesh_url": f"/api/files/{job}/{Path(e['files']['mesh']).name}",
            })
        message = "" if hands else "no hand found in this image"
        return {"job": job, "hands": hands, "message": message}

    @app.get("/api/files/{job}/{name}")
    def files(job: str, name: str):
        """Download a file of a job (the record as JSON, the mesh as GLB)."""
        path = (root / job / name).resolve()
        if root.resolve() not in path.parents or not path.is_file() or path.suffix not in (".json", ".glb"):
            raise HTTPException(404, "no such file")
        return FileResponse(path, filename=name)

    app.state.work_dir = root
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, **kwargs) -> None:
    """Run the app with uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise AffordhandError("the web page needs: pip install 'affordhand[web]'") from None
    app = create_app(**kwargs)
    print(f"affordhand: serving on http://{host}:{port}/ (uploads kept in {app.state.work_dir})", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        shutil.rmtree(app.state.work_dir, ignore_errors=True)
