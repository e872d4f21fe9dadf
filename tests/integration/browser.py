"""Open the project's pages the way an intranet user does: Debian's Chromium (/usr/bin/chromium,
installed by .ci/run), driven by Playwright, with the network cut off.

Every request that is not a file:// URL is aborted and recorded (so is any WebSocket), and a page
fails its check on a console error, an uncaught script error or a failed request: a stylesheet
or script that would come from a CDN, or a local file that is missing, shows up here.
Screenshots go to $BIZENV_TEST_ARTIFACTS when set (CI keeps them), else to the test's temporary
directory; `artifact_dir` prints where.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, Route, WebSocketRoute, sync_playwright

CHROMIUM = Path(os.environ.get("BIZENV_CHROMIUM", "/usr/bin/chromium"))


@dataclass
class Problems:
    """What went wrong while a page loaded: each list holds one line per event."""

    blocked: list[str] = field(default_factory=list)  # requests off the machine, aborted
    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return ([f"blocked {url}" for url in self.blocked]
                + [f"failed {line}" for line in self.failed_requests]
                + [f"console error: {line}" for line in self.console_errors]
                + [f"page error: {line}" for line in self.page_errors])


@contextmanager
def offline_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: apt-get install chromium (see README.md, Tests)")
    with sync_playwright() as playwright:
        # Chromium's sandbox needs an unprivileged user; CI runs as root
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_offline(browser: Browser, page_path: Path, *, viewport: tuple[int, int] = (1280, 900),
                 media: str = "screen") -> Iterator[tuple[Page, Problems]]:
    """`page_path` loaded (fonts too) in a fresh context with no network; yields the page and the
    problems seen so far (the list keeps growing while the page is used)."""
    problems = Problems()
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme="light",
                                  service_workers="block", java_script_enabled=True)

    def route(route: Route) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            problems.blocked.append(url)
            route.abort("internetdisconnected")

    def websocket(socket: WebSocketRoute) -> None:
        problems.blocked.append(socket.url)
        socket.close()

    try:
        context.route("**/*", route)
        context.route_web_socket("**/*", websocket)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and problems.console_errors.append(
            f"{message.text} ({message.location.get('url', '')})"))
        page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
        page.on("requestfailed", lambda request: problems.failed_requests.append(
            f"{request.url}: {request.failure}"))
        page.emulate_media(media=media)
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        page.evaluate("document.fonts.ready.then(() => document.fonts.status)")
        yield page, problems
    finally:
        context.close()


def artifact_dir(default: Path, name: str) -> Path:
    root = os.environ.get("BIZENV_TEST_ARTIFACTS")
    target = (Path(root) if root else default) / name
    target.mkdir(parents=True, exist_ok=True)
    print(f"browser screenshots: {target}")
    return target
