"""Drive the web page in headless Chromium (Debian's `chromium` and `chromium-driver`, through selenium):
start `affordhand serve`, upload an image, type the box and text, press Refine, wait for the result.

Used by the end-to-end test and by `examples/readme_picture.py`; needs the `dev` extra (selenium)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from affordhand.errors import AffordhandError

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_paths() -> tuple[str | None, str | None]:
    """Return (chromium, chromedriver) executables, None where missing."""
    return shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    """Return a TCP port free on localhost now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(timeout_s: float = 60.0):
    """Start `affordhand serve` on a free local port; yield its base URL; stop it afterwards."""
    port = free_port()
    # The server's log goes to a file, not a pipe: nobody reads a pipe while it runs, and a full one would
    # block the server.
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "affordhand", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status", timeout=1)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise AffordhandError(f"`affordhand serve` did not come up: {log.read()[-2000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def refine_in_browser(
    url: str,
    image: str | Path,
    text: str,
    box: str = "",
    screenshot: str | Path | None = None,
    window=(1200, 1400),
    timeout_s: float = 120.0,
) -> str:
    """Upload image on the page at url, fill box and text, press Refine and wait for the overlay and the 3D
    view of the first hand; save a screenshot when asked; return the text of the results."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = chromium_paths()
    if not (chromium and driver_path):
        raise AffordhandError("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--window-size={window[0]},{window[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(url + "/")
        driver.find_element(By.ID, "file").send_keys(str(Path(image).resolve()))
        if box:
            driver.find_element(By.ID, "box").send_keys(box)
        driver.find_element(By.ID, "text").send_keys(text)
        driver.find_element(By.ID, "refine").click()
        WebDriverWait(driver, timeout_s).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#hand0 img.overlay")))
        WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#viewer0 .main-svg")))
        results = driver.find_element(By.ID, "results").text
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(screenshot)):
                raise AffordhandError(f"could not save the screenshot {screenshot}")
        return results
    finally:
        driver.quit()
