"""The pages people open, opened in a real browser with the network cut off (browser.py).

Data Docs: GX's pages are built from a real ingest and must load every script, stylesheet and
font from the site itself (include/bizenv/static/vendor): no request leaves the machine, no
script fails, bootstrap styles the page and the Font Awesome icons font is loaded. The monthly
report (the markers of the report contract: a trend chart for every indicator, heat map) is
published for a simulated year (July 2023 to June 2024) on DuckDB and PostgreSQL and opened the
same way; it is also printed to an A4 PDF.
Screenshots: see browser.artifact_dir.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from browser import artifact_dir, offline_browser, open_offline

from bizenv.datasets import REGISTRATION
from bizenv.errors import Refused
from bizenv.indicators import DATASETS, compute_snapshot, load_catalog
from bizenv.ingest import ingest_file
from bizenv.report import write_report
from bizenv.simulator.simulate import DefectRates, simulate, write_files
from bizenv.standardize import standardize
from bizenv.validate import VENDOR_DIR, VENDORED_URLS, build_data_docs, localise_page, run_suite
from bizenv.warehouse import make_engine
from conftest import PROJECT_ROOT

pytestmark = pytest.mark.timeout(240)

EXTERNAL = re.compile(r"""https?:|\b(?:src|href)\s*=\s*["']?//|url\(\s*["']?//""", re.IGNORECASE)
LOCAL_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"'#]+)["']""", re.IGNORECASE)


@pytest.fixture(scope="module")
def browser():
    with offline_browser() as browser:
        yield browser


# --- the check itself ----------------------------------------------------------------------


def test_the_offline_check_reports_external_and_missing_files(browser, tmp_path):
    page = tmp_path / "page.html"
    (tmp_path / "local.css").write_text("body { color: rgb(1, 2, 3); }", encoding="utf-8")
    page.write_text(
        "<!DOCTYPE html><html><head>"
        '<link rel="stylesheet" href="local.css">'
        '<link rel="stylesheet" href="https://cdn.example.org/lib/1.0/lib.min.css">'
        '<script src="missing.js"></script>'
        "<script>console.error('drawn wrong'); undefinedFunction();</script>"
        "</head><body><p>x</p></body></html>",
        encoding="utf-8",
    )
    with open_offline(browser, page) as (tab, problems):
        assert tab.evaluate("getComputedStyle(document.body).color") == "rgb(1, 2, 3)"  # file:// still loads
        assert problems.blocked == ["https://cdn.example.org/lib/1.0/lib.min.css"]
        failed = sorted(line.split(": ")[0] for line in problems.failed_requests)
        assert failed == [(tmp_path / "missing.js").as_uri(), "https://cdn.example.org/lib/1.0/lib.min.css"]
        # Chromium reports each failed load on the console too
        assert sorted(problems.console_errors) == sorted([
            f"drawn wrong ({page.as_uri()})",
            "Failed to load resource: net::ERR_INTERNET_DISCONNECTED (https://cdn.example.org/lib/1.0/lib.min.css)",
            f"Failed to load resource: net::ERR_FILE_NOT_FOUND ({(tmp_path / 'missing.js').as_uri()})",
        ])
        assert problems.page_errors == ["undefinedFunction is not defined"]
        assert len(problems.lines()) == 7


def test_an_unknown_external_reference_in_data_docs_is_refused():
    page = Path("validations/registration/none/20240601T000000Z/registration.html")
    known = '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
    assert localise_page(known, page) == '<script src="../../../../static/vendor/jquery/3.7.1/jquery.min.js"></script>'
    for unknown, named in [
        ('<script src="https://cdn.example.org/new-lib@2"></script>', "https://cdn.example.org/new-lib@2"),
        ('<img src="//cdn.example.org/logo.png">', "//cdn.example.org/logo.png"),
        ("<style>.a { background: url(//cdn.example.org/b.png) }</style>", "//cdn.example.org/b.png"),
        ('<a href="http://intranet.example/help">help</a>', "http://intranet.example/help"),
    ]:
        with pytest.raises(Refused, match=re.escape(named)) as raised:
            localise_page(known + unknown, page)
        assert "\n" not in str(raised.value) and page.as_posix() in str(raised.value)
    # a copy that is not the file GX pins by its integrity hash is refused too
    tampered = ('<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
                'integrity="sha384-AAAA" crossorigin="anonymous"></script>')
    with pytest.raises(Refused, match="sha384-AAAA"):
        localise_page(tampered, Path("index.html"))


def test_vendored_files_are_the_listed_ones_and_ship_in_the_package():
    listed = {}
    for line in (VENDOR_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip(" `") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"[0-9a-f]{64}", cells[2]):
            listed[cells[0]] = (int(cells[1]), cells[2])
    files = {p.relative_to(VENDOR_DIR).as_posix(): p for p in VENDOR_DIR.rglob("*") if p.is_file()}
    files.pop("README.md")
    assert sorted(listed) == sorted(files)
    for name, path in files.items():
        data = path.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == listed[name], name
    assert set(VENDORED_URLS.values()) <= set(files)
    for library in {Path(name).parts[0] + "/" + Path(name).parts[1] for name in files}:
        assert any(n.startswith(library + "/LICENSE") for n in files), f"{library} has no licence file"
    assert sum(p.stat().st_size for p in files.values()) < 2_200_000

    package_data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = package_data["tool"]["setuptools"]["package-data"]["bizenv"]
    package = VENDOR_DIR.parents[1]
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    assert set(files.values()) | {VENDOR_DIR / "README.md"} <= shipped


# --- Data Docs --------------------------------------------------------------------------------


def test_data_docs_open_offline_styled(browser, duckdb_settings, tmp_path, tmp_path_factory):
    data = simulate(entities=60, months=("2024-06", "2024-06"), seed=11, defects=DefectRates(unknown_region=0.05))
    files = write_files(data, tmp_path / "departments")
    assert ingest_file(duckdb_settings, "registration", files["registration"]).status == "loaded"
    site = duckdb_settings.docs_dir / "data-docs"
    pages = sorted(site.rglob("*.html"))
    relative = sorted(p.relative_to(site).parts[0] for p in pages)
    assert relative == ["expectations", "index.html", "validations"]
    for page in [*pages, *site.glob("static/styles/*.css")]:
        content = page.read_text(encoding="utf-8")
        assert not EXTERNAL.search(content), (page, EXTERNAL.search(content).group(0))
        for target in LOCAL_REF.findall(content):
            assert (page.parent / target).is_file(), (page, target)
    shots = artifact_dir(tmp_path_factory.getbasetemp(), "data-docs")

    with open_offline(browser, site / "index.html") as (tab, problems):
        assert tab.locator("nav.navbar").first.evaluate("e => getComputedStyle(e).display") == "flex"  # bootstrap
        # bootstrap-table (jQuery) built the tables of suites and runs from their data: one row each
        assert tab.locator("div.bootstrap-table").count() == 2
        runs = tab.locator("div.bootstrap-table table.ge-index-page-validation-results-table tbody tr")
        assert runs.count() == 1 and "registration" in runs.inner_text()
        assert tab.locator(".alert-secondary").first.evaluate(
            "e => getComputedStyle(e).backgroundColor") == "rgb(226, 227, 229)"
        tab.screenshot(path=shots / "index.png", full_page=True)
        assert problems.lines() == []

    result_page = next(p for p in pages if p.relative_to(site).parts[0] == "validations")
    with open_offline(browser, result_page) as (tab, problems):
        assert tab.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
        loaded = tab.evaluate("[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)")
        assert "Font Awesome 6 Free" in loaded
        failed_icon = tab.locator("i.fas.fa-times").first
        assert failed_icon.evaluate("e => getComputedStyle(e, '::before').content") == '"\uf00d"'
        assert "Font Awesome 6 Free" in failed_icon.evaluate("e => getComputedStyle(e).fontFamily")
        assert failed_icon.bounding_box()["width"] > 0
        assert tab.locator("i.fas.fa-check-circle").count() > 0
        # bootstrap's table and navbar, not the browser's defaults
        assert tab.locator("table.table").first.evaluate("e => getComputedStyle(e).borderCollapse") == "collapse"
        assert tab.locator("nav.navbar").first.evaluate("e => getComputedStyle(e).display") == "flex"
        tab.screenshot(path=shots / "validation-result.png", full_page=True)
        assert problems.lines() == []


def test_a_site_written_before_localisation_is_localised_whole(tmp_path):
    data = simulate(entities=20, months=("2024-06", "2024-06"), seed=4, defects=DefectRates.none())
    raw = data.registration.astype(str).assign(source_row=range(2, len(data.registration) + 2))
    rows = standardize(REGISTRATION, raw).rows
    site = tmp_path / "docs"
    build_data_docs("registration", run_suite("registration", rows), site)
    old_page = next(site.glob("validations/**/*.html"))
    cdn = "https://code.jquery.com/jquery-3.7.1.min.js"
    local = "../../../../static/vendor/jquery/3.7.1/jquery.min.js"
    old_page.write_text(old_page.read_text(encoding="utf-8").replace(local, cdn), encoding="utf-8")
    shutil.rmtree(site / "static" / "vendor")  # as an older release left the site
    build_data_docs("registration", run_suite("registration", rows.iloc[:5]), site)
    assert len(list(site.glob("validations/**/*.html"))) == 2
    assert cdn not in old_page.read_text(encoding="utf-8") and local in old_page.read_text(encoding="utf-8")
    assert (site / "static/vendor/jquery/3.7.1/jquery.min.js").is_file()


# --- the monthly report -----------------------------------------------------------------------

# a simulated year: the report's 12-month window is full
REPORT_MONTHS = tuple(f"{year}-{month:02d}" for year, month in [(2023, m) for m in range(7, 13)]
                      + [(2024, m) for m in range(1, 7)])
UNITS = 4  # 152900 阿拉善盟 and its three banners (include/config/regions.yaml)


def test_monthly_report_draws_offline(browser, warehouse_settings, tmp_path, tmp_path_factory):
    # seed 3: June 2024 has met, missed, 样本不足 and no-data cells, so every colour is drawn
    data = simulate(entities=60, months=(REPORT_MONTHS[0], REPORT_MONTHS[-1]), seed=3, defects=DefectRates.none())
    files = write_files(data, tmp_path / "departments")
    for dataset in DATASETS:
        assert ingest_file(warehouse_settings, dataset, files[dataset]).status == "loaded", dataset
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        for month in REPORT_MONTHS:
            assert compute_snapshot(engine, month).status == "published", month
        report = tmp_path / "report" / "indicators-2024-06.html"
        write_report(engine, "2024-06", report)
    finally:
        engine.dispose()
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and not EXTERNAL.search(html)
    indicators = len(load_catalog())
    name = f"report-{warehouse_settings.warehouse_url.split(':')[0].split('+')[0]}"
    shots = artifact_dir(tmp_path_factory.getbasetemp(), name)

    with open_offline(browser, report) as (tab, problems):
        charts = tab.locator("svg.trend-chart")
        assert sorted(c.get_attribute("data-indicator") for c in charts.all()) == sorted(
            d.code for d in load_catalog())  # a trend for every indicator
        for chart in charts.all():
            code = chart.get_attribute("data-indicator")
            box = chart.bounding_box()
            assert box["width"] > 0 and box["height"] > 0, code
            lines = chart.locator("polyline.series")
            assert lines.count() >= 1, code
            widths = []
            for line in lines.all():
                drawn = line.evaluate("""e => { const b = e.getBBox(), s = getComputedStyle(e);
                    const svg = e.ownerSVGElement.viewBox.baseVal;
                    return {points: e.points.numberOfItems, x: b.x, y: b.y, width: b.width, height: b.height,
                            inside: b.x >= svg.x && b.y >= svg.y && b.x + b.width <= svg.x + svg.width
                                    && b.y + b.height <= svg.y + svg.height,
                            stroke: s.stroke, strokeWidth: parseFloat(s.strokeWidth), display: s.display}; }""")
                where = (code, line.get_attribute("data-region"))
                # a unit with one month of value has a one-point line; with more, the line spans them
                # (a flat line has no height, so only its width counts)
                assert drawn["points"] >= 1 and drawn["inside"], (where, drawn)
                assert drawn["points"] == 1 or drawn["width"] > 0, (where, drawn)
                assert drawn["stroke"] != "none" and drawn["strokeWidth"] > 0 and drawn["display"] != "none", where
                widths.append(drawn["width"])
            assert max(widths) > 0, code  # every chart draws at least one line across months

        cells = tab.locator("table.heatmap td.cell")
        assert cells.count() == UNITS * indicators
        seen = cells.evaluate_all("""cells => cells.map(c => { const r = c.getBoundingClientRect();
            return [c.dataset.attainment, getComputedStyle(c).backgroundColor, r.width, r.height]; })""")
        assert all(width > 0 and height > 0 for _, _, width, height in seen)
        colours: dict[str, set[str]] = {}
        for attainment, colour, _, _ in seen:
            colours.setdefault(attainment, set()).add(colour)
        assert {"met", "missed"} <= set(colours), colours
        assert len(colours["met"]) == 1 and len(colours["missed"]) == 1, colours
        assert colours["met"] != colours["missed"]
        assert not colours["met"] & {"rgba(0, 0, 0, 0)", "transparent"}
        assert tab.locator("table.missed-streaks").count() == 1
        assert tab.locator("section#data-quality").count() == 1

        tab.screenshot(path=shots / "report.png", full_page=True)
        pdf = tab.pdf(path=shots / "report-a4.pdf", format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
        tab.emulate_media(media="print")
        tab.screenshot(path=shots / "report-print.png", full_page=True)
        assert problems.lines() == []
