"""The HTML report as a reader opens it: headless Chromium, the network blocked, the page
loaded from disk. Nothing may leave the file, nothing may log an error, every image must
decode, the data must not change the title or run script, and the answers must be on the
first screen. Screenshots are kept in ``test-artefacts/browser/`` (or
``$RTLAB_TEST_ARTEFACTS/browser/``)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from rtlab.analysis import hosts
from rtlab.report import params, report, views
from tests.browser import _chromium
from tests.conftest import SETUP_DONE

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("RTLAB_TEST_ARTEFACTS") or REPO / "test-artefacts") / "browser"


@pytest.fixture(scope="module", autouse=True)
def _browser_installed():
    """make test's set-up installs chromium and chromium-driver (scripts/bootstrap.sh --test):
    there a missing browser fails; a bare pytest without them skips, saying why."""
    why_not = _chromium.available()
    if why_not:
        if SETUP_DONE:
            pytest.fail(f"no browser to test with: {why_not}; make test's set-up installs them")
        pytest.skip(f"no browser to test with: {why_not}")


@pytest.fixture(scope="module")
def driver():
    with _chromium.browser() as d:
        yield d


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory) -> report.Report:
    """``rtlab report --runs data/sample`` into a temporary reports folder."""
    return report.report_from_runs(
        [params.repo_path(params.SAMPLE_DIR)],
        reports_dir=tmp_path_factory.mktemp("reports"),
        say=lambda _: None,
    )


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> report.Report:
    """A report of a run whose every text field holds markup and script."""
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from _hostile import hostile_run

    run = hostile_run(tmp_path_factory.mktemp("hostile") / "run")
    return report.report_from_runs(
        [run], reports_dir=tmp_path_factory.mktemp("reports"), say=lambda _: None
    )


def assert_clean(seen: _chromium.Visit) -> None:
    """What every page must satisfy in the browser."""
    assert seen.outside() == [], f"requests left the file: {seen.outside()}"
    assert seen.console == [], f"console errors: {seen.console}"
    assert seen.broken_images() == [], f"images that did not decode: {seen.broken_images()}"
    assert seen.pwned is None, f"script from the data ran (set by {seen.pwned!r})"


def test_the_report_opens_with_the_answers(driver, sample_report) -> None:
    seen = _chromium.visit(
        driver,
        sample_report.html,
        ARTEFACTS / "report-first-screen.png",
        ARTEFACTS / "report-full-page.png",
    )
    assert_clean(seen)
    metas, _ = params.load_runs(params.find_runs(params.SAMPLE_DIR))
    assert seen.title == views.report_title(metas)
    # the report's figures only (overview in the headline, lifecycle, study; the rest on
    # request), each shown once, each with alternative text
    pngs = list((sample_report.report_dir / "figures").rglob("*.png"))
    kinds = {p.stem.partition("_")[0] for p in pngs}
    assert {"overview", "lifecycle"} <= kinds and not kinds & {"distribution", "ecdf", "ratios"}
    assert len(seen.images) == len(pngs) and all(i["alt"] for i in seen.images)
    width, height = _chromium.VIEWPORT
    boxes = seen.boxes
    # the title, the first answer and the headline figure are on the first 1280×800 screen
    for part in ("title", "first_answer", "figure"):
        assert boxes[part] is not None, part
        assert 0 <= boxes[part]["top"] and boxes[part]["bottom"] <= height, (part, boxes[part])
        assert boxes[part]["right"] <= width, (part, boxes[part])
    assert boxes["headline"]["top"] < 200


def test_the_index_opens_clean(driver, sample_report) -> None:
    seen = _chromium.visit(driver, sample_report.index, ARTEFACTS / "index.png")
    assert_clean(seen)
    assert seen.title == "rtlab reports"
    assert driver.find_element("css selector", "a").get_attribute("href").endswith("/report.html")


def test_strings_from_data_run_nothing_and_show_as_text(driver, hostile_report) -> None:
    seen = _chromium.visit(driver, hostile_report.html, ARTEFACTS / "hostile-first-screen.png")
    assert_clean(seen)
    metas, _ = params.load_runs([hostile_report.run_dir])
    assert seen.title == views.report_title(metas)  # the title is the data's text, unchanged
    body = driver.execute_script("return document.body.innerText")
    assert body.count("<nil>") >= 3  # a runtime's reason, an error, a version: as text
    assert "<img src=x onerror=" in body and "<script>" in body
    index = _chromium.visit(driver, hostile_report.index)
    assert_clean(index)
    assert "<img src=x onerror=" in driver.execute_script("return document.body.innerText")


# -- the checks above can fail ---------------------------------------------------------------


def tampered(page: Path, into: Path, change) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    copy = into / page.name
    copy.write_text(change(page.read_text(encoding="utf-8")), encoding="utf-8")
    return copy


@pytest.mark.parametrize(
    "name, change, broken",
    [
        (
            "cdn-script",
            lambda html: html.replace(
                "</head>",
                '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js">'
                "</script></head>",
                1,
            ),
            "outside",
        ),
        (
            "cdn-font",
            lambda html: html.replace(
                "</head>",
                '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">'
                "</head>",
                1,
            ),
            "outside",
        ),
        (
            "broken-image",
            lambda html: re.sub(
                r'src="data:image/png;base64,[A-Za-z0-9+/]{40}',
                'src="data:image/png;base64,AAAA',
                html,
                count=1,
            ),
            "broken",
        ),
        (
            "markup-from-data",
            lambda html: html.replace(  # in the body, not the <title>
                "<li>", "<li><img src=x onerror=\"window.__rtlab_pwned='x'\">", 1
            ),
            "pwned",
        ),
    ],
)
def test_a_cdn_link_a_broken_image_or_unescaped_markup_is_caught(
    driver, sample_report, hostile_report, tmp_path, name, change, broken
) -> None:
    source = hostile_report.html if name == "markup-from-data" else sample_report.html
    seen = _chromium.visit(driver, tampered(source, tmp_path / name, change))
    with pytest.raises(AssertionError):
        assert_clean(seen)
    if broken == "outside":
        assert seen.outside() or seen.console
    elif broken == "broken":
        assert seen.broken_images()
    else:
        # the report's Content-Security-Policy blocks the handler and says so
        assert seen.console or seen.pwned


def test_chromium_is_not_needed_to_skip_cleanly(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "chromium and chromedriver not installed" in _chromium.available()


@pytest.fixture(scope="module")
def two_hosts_report(tmp_path_factory) -> report.Report:
    """``rtlab report --runs data/two-hosts``: this machine directly and from rtlab's image
    under --cpus=1 (issue 34), two hosts in one report."""
    return report.report_from_runs(
        [params.repo_path("data/two-hosts")],
        reports_dir=tmp_path_factory.mktemp("reports"),
        say=lambda _: None,
    )


def test_a_report_of_two_hosts_shows_its_hosts_section(driver, two_hosts_report) -> None:
    seen = _chromium.visit(
        driver,
        two_hosts_report.html,
        ARTEFACTS / "two-hosts-first-screen.png",
        ARTEFACTS / "two-hosts-full-page.png",
    )
    assert_clean(seen)
    assert two_hosts_report.report_dir.name.endswith("+1-more")  # not the first run's alone
    section = driver.find_element("css selector", "section#hosts")
    text = section.text
    found = hosts.load_hosts(params.find_runs("data/two-hosts"))
    assert len(found) == 2 and all(h.label in text for h in found)
    assert len(section.find_elements("css selector", "img")) == 1  # decoded: assert_clean
    across = pd.read_csv(two_hosts_report.report_dir / "hosts" / hosts.HOSTS_FILE)
    rows = section.find_elements("css selector", "table.hosts-across tbody tr")
    assert len(rows) == len(across) and all(r.text.endswith("(unpaired)") for r in rows)
    assert section.location["y"] < driver.find_element("css selector", "h2#Figures").location["y"]
    # the first screen says the answers are the first host's and names the other
    other = driver.find_element("css selector", "#other-hosts")
    assert found[1].label in other.text and other.location["y"] < _chromium.VIEWPORT[1]
