import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "photos" / "1402.jpg"


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


@pytest.mark.skipif(not PHOTO.is_file(), reason="the real test photos (../shared/photos) are not there")
def test_api_refines_a_real_photo_and_serves_downloads(client):
    r = client.post("/api/refine", files={"image": ("p.jpg", PHOTO.read_bytes(), "image/jpeg")},
                    data={"text": "A right hand holds a small ball with a power sphere grasp.", "samples": "2"})
    assert r.status_code == 200, r.text
    hand = r.json()["hands"][0]
    assert hand["overlay"].startswith("data:image/png;base64,") and len(hand["joints_after"]) == 21
    assert client.get(hand["record_url"]).json()["id"] == hand["id"]
    assert client.get(hand["mesh_url"]).content[:4] == b"glTF"
    assert client.get("/api/files/../../etc/passwd").status_code == 404


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian's chromium and chromium-driver are not installed")
@pytest.mark.skipif(not PHOTO.is_file(), reason="the real test photos (../shared/photos) are not there")
def test_page_end_to_end_in_headless_chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "affordhand", "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1400"):
        options.add_argument(flag)
    driver = None
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "file").send_keys(str(PHOTO))
        driver.find_element(By.ID, "box").send_keys("100,150,180,230")
        driver.find_element(By.ID, "text").send_keys("A right hand holds a small ball with a power sphere grasp.")
        driver.find_element(By.ID, "refine").click()
        WebDriverWait(driver, 120).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#hand0 img.overlay")))
        WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#viewer0 .main-svg")))
        page = driver.find_element(By.ID, "results").text
        assert "right hand, affordance" in page and "power sphere" in page
        shots = REPO / "out" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(shots / "web_refine.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)
