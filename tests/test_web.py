from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affordhand.web.browser import chromium_paths, refine_in_browser, running_server

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "examples" / "photos" / "fingerpose_halfcurl.jpg"  # a real photo, MIT (see its README)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from affordhand.web.app import create_app

    return TestClient(create_app(max_upload_mb=0.05, work_dir=str(tmp_path_factory.mktemp("web"))))


def _png(tmp_path, size=(80, 60)):
    path = tmp_path / "x.png"
    Image.fromarray(np.full((size[1], size[0], 3), 255, np.uint8)).save(path)
    return path


def test_api_refuses_non_images_oversized_uploads_and_bad_fields(client, tmp_path):
    r = client.post("/api/refine", files={"image": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 415 and "not an image" in r.json()["detail"]
    big = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    r = client.post("/api/refine", files={"image": ("big.png", (tmp_path / "big.png").read_bytes(), "image/png")})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    png = _png(tmp_path).read_bytes()
    r = client.post("/api/refine", files={"image": ("x.png", png, "image/png")}, data={"object_box": "1,2"})
    assert r.status_code == 400 and "object-box" in r.json()["error"]
    r = client.post("/api/refine", files={"image": ("x.png", png, "image/png")}, data={"text": "The hand."})
    assert r.status_code == 400
    r = client.post("/api/refine", files={"image": ("x.png", png, "image/png")})
    assert r.status_code == 200 and r.json()["hands"] == [] and "no hand" in r.json()["message"]
    r = client.post("/api/refine", files={"image": ("x.png", b"\x89PNG broken", "image/png")})
    assert r.status_code == 400 and "cannot read" in r.json()["error"]
    assert client.get("/api/status").json()["describe"] is False  # the server is still up
    schema = client.get("/openapi.json").json()
    assert {"/api/refine", "/api/describe", "/api/status"} <= set(schema["paths"])


def test_api_refines_a_real_photo_and_serves_downloads(client):
    r = client.post("/api/refine", files={"image": ("p.jpg", PHOTO.read_bytes(), "image/jpeg")},
                    data={"text": "A right hand curls its index finger over the thumb.", "samples": "2"})
    assert r.status_code == 200, r.text
    hand = r.json()["hands"][0]
    assert hand["overlay"].startswith("data:image/png;base64,") and len(hand["joints_after"]) == 21
    assert client.get(hand["record_url"]).json()["id"] == hand["id"]
    assert client.get(hand["mesh_url"]).content[:4] == b"glTF"
    assert client.get("/api/files/../../etc/passwd").status_code == 404


CHROMIUM, DRIVER = chromium_paths()


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_page_end_to_end_in_headless_chromium():
    pytest.importorskip("selenium")
    shot = REPO / "out" / "screenshots" / "web_refine.png"
    shot.unlink(missing_ok=True)
    with running_server() as url:
        page = refine_in_browser(url, PHOTO, "A left hand curls its index finger over the thumb.",
                                 box="250,280,330,420", screenshot=shot)
    assert "left hand, affordance" in page and "curls its index finger" in page
    assert "3D landmarks fit a left hand" in page  # MediaPipe's label corrected, and the page says so
    with Image.open(shot) as im:
        assert im.size[0] >= 1000 and len(np.unique(np.asarray(im.convert("L")))) > 50  # a rendered page, not a blank
