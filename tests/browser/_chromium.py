"""Headless Chromium through selenium and chromedriver: open a page from disk with the
network blocked, and report what a reader's browser saw (requests, console, images)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
VIEWPORT = (1280, 800)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    # the network is blocked: no proxy answers, no name resolves
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def available() -> str:
    """ "" when chromium and chromedriver are installed, else why not."""
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    if missing:
        return (
            f"{' and '.join(missing)} not installed (Debian: apt-get install chromium "
            "chromium-driver)"
        )
    return ""  # selenium is a test dependency: its absence is an error, not a skip


@dataclass
class Visit:
    """What the browser saw of one page."""

    url: str
    title: str = ""
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    pwned: object = None
    boxes: dict = field(default_factory=dict)

    def outside(self) -> list[str]:
        """Every request that left the file (anything but file: and data: URLs)."""
        return [u for u in self.requests if not u.startswith(("file:", "data:"))]

    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not i["complete"] or i["width"] <= 0]


@contextmanager
def browser() -> Iterator[object]:
    """A headless Chromium (fresh profile) driven by chromedriver, 1280×800."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="rtlab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]}
        )
        # the viewport, not the window, is 1280×800
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


_BOXES = """
const box = sel => { const e = document.querySelector(sel);
  if (!e) return null; const r = e.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
return {headline: box('#headline'), title: box('#report-title'),
        first_answer: box('#headline li'), figure: box('#headline img')};
"""


def visit(
    driver, page: Path, screenshot: Path | None = None, full_page: Path | None = None
) -> Visit:
    """Open ``page`` from disk, wait for it to load, and collect what happened."""
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get_log("browser")
    url = Path(page).resolve().as_uri()
    driver.get(url)
    seen = Visit(url=url, title=driver.title)
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            seen.requests.append(message["params"]["request"]["url"])
    seen.console = [
        f"{e['level']}: {e['message']}"
        for e in driver.get_log("browser")
        if e["level"] in ("SEVERE", "ERROR")
    ]
    seen.images = driver.execute_script(
        "return [...document.images].map(i => ({src: i.src.slice(0, 40), alt: i.alt, "
        "complete: i.complete, width: i.naturalWidth}))"
    )
    seen.pwned = driver.execute_script("return window.__rtlab_pwned || null")
    seen.boxes = driver.execute_script(_BOXES)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    if full_page is not None:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": VIEWPORT[0],
                "height": min(int(height), 16000),
                "deviceScaleFactor": 1,
                "mobile": False,
            },
        )
        full_page.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(full_page))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
        )
    return seen


if __name__ == "__main__":  # python tests/browser/_chromium.py PAGE OUT_PREFIX
    import sys

    with browser() as d:
        v = visit(
            d, Path(sys.argv[1]), Path(sys.argv[2] + "-first.png"), Path(sys.argv[2] + "-full.png")
        )
    print(
        json.dumps(
            {
                **v.__dict__,
                "images": len(v.images),
                "broken": v.broken_images(),
                "outside": v.outside(),
            },
            indent=1,
            default=str,
        )
    )
