"""Real Chromium against a real ``streamlit run app.py``: one server per test session.

Fixtures, in the order they build on each other:

- ``seqlab_home``: a data folder prepared before the server starts (the default project
  "English NER" and the tiny trained model from tests/conftest.py registered as its active
  version, so the Tag page has predictions).
- ``app_server``: ``streamlit run app.py`` on a free port with ``SEQLAB_HOME`` pointing there;
  yields the base URL; the process group is killed at teardown.
- ``services``: a :class:`services.Services` in the test process on the same SQLite file, to
  arrange data before a journey or check what the UI stored.
- ``chromium``: Debian's chromium through Playwright (skipped locally when missing, a failure
  when the ``CI`` environment variable is set).
- ``app``: a fresh browser context and page wrapped in :class:`App` (open a page by its
  navigation title, or go to another in the same session; wait for a rerun, take a screenshot,
  the dialogs the page opened).

The server and its database are shared by every browser test of the session, so a journey
creates what it needs (its own project or texts) and asserts on that, not on global counts.

A new journey: a test module here with ``pytestmark = pytest.mark.browser`` and a test taking
``app`` (and ``services`` to arrange or check data): ``app.open("Train")``, act through accessible
locators on ``app.page``, ``app.wait_for_run()`` after each click or fill that reruns the script,
``app.screenshot("train-started")``. Steps several journeys take (pick a project, upload, download,
tag a text, read a data grid) are in steps.py. A failing test leaves ``FAILED-<test>.png`` next to
the screenshots.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("SEQLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SERVER_START_S = 60
TIMEOUT_MS = 20_000  # one rerun on 2 CPU cores, model load included
RUN_START_GRACE_MS = 1_500  # the longest a click may take to start its run before it is taken to start none
# installed in every page: the page's clock when Streamlit last said a run started (any state but notRunning)
RUN_WATCH = """new MutationObserver(records => {
    for (const r of records) {
        if (r.target.getAttribute("data-test-script-state") !== "notRunning") window.__seqlabRunStarted = performance.now();
    }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});"""
CONTENT_HEIGHT = """() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll(
    "[data-testid='stMain'], [data-testid='stAppScrollToBottomContainer'], [data-testid='stSidebarContent']")]
    .map(e => e.scrollHeight))"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return response.read().decode() == "ok"
    except OSError:
        return False


def _browser_missing(reason: str) -> None:
    """CI must run the browser tests (``.ci/run`` installs chromium); locally they may skip."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (the CI environment variable is set, so this is an error, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def seqlab_home(tmp_path_factory, trained_dir) -> Path:
    """The server's data folder: the default project with the tiny model active."""
    from services import Services

    home = tmp_path_factory.mktemp("seqlab-home").resolve()  # as worker.py's data_home() spells it
    svc = Services(f"sqlite:///{home / 'seqlab.db'}")
    try:
        project = svc.ensure_default_project()
        svc.register_version(project.id, trained_dir, activate=True)
    finally:
        svc.close()
    return home


@pytest.fixture(scope="session")
def app_server(seqlab_home) -> Iterator[str]:
    """``streamlit run app.py`` on a free port; yields ``http://127.0.0.1:<port>``."""
    yield from serve(seqlab_home)


def serve(home: Path, **env_extra: str) -> Iterator[str]:
    """Run ``streamlit run app.py`` on ``home`` (and ``env_extra``) on a free port; yield its URL,
    then stop it and the workers it started (for a fixture's ``yield from``)."""
    port = _free_port()
    env = {**os.environ, "SEQLAB_HOME": str(home), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **env_extra}
    env.pop("SEQLAB_DB_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = (home / "streamlit.log").open("w+b")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, url, log)
        yield url
    finally:
        _stop(process.pid, process)
        log.close()
        _stop_workers(home)


def _wait_until_healthy(process: subprocess.Popen, url: str, log) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while not _healthy(url):
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"streamlit exited with {process.returncode} before answering:\n"
                        f"{log.read().decode(errors='replace')[-5000:]}")
        if time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"streamlit did not answer {url}/_stcore/health within {SERVER_START_S} s:\n"
                        f"{log.read().decode(errors='replace')[-5000:]}")
        time.sleep(0.25)


def _stop(group: int, process: subprocess.Popen | None = None) -> None:
    """Terminate a process group (streamlit's, or a worker's), then kill it if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                return
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _stop_workers(home: Path) -> None:
    """Stop training workers the app started on this data folder; fail if any process outlives it.

    ``worker.spawn_worker`` detaches them into their own session, so killing the server's group
    misses them; they are found by the ``SEQLAB_HOME`` of this session's temporary folder.
    """
    for pid in _processes_on(home):
        try:
            leader = os.getpgid(pid) == pid
        except ProcessLookupError:
            continue
        if leader:
            _stop(pid)
    left = _processes_on(home)
    if left:
        pytest.fail(f"processes on {home} outlived the test session (pids {left}); a worker left "
                    "running keeps training on a shared machine until it idles out")


def _processes_on(home: Path) -> list[int]:
    """Live processes (other than this one) whose environment has ``SEQLAB_HOME=<home>``."""
    marker = f"SEQLAB_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")  # empty for a zombie
        except OSError:
            continue
        if marker in environ:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def services(app_server, seqlab_home):
    """Services in the test process on the server's database (arrange data, check results)."""
    from services import Services

    svc = Services(f"sqlite:///{seqlab_home / 'seqlab.db'}")
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian chromium driven by Playwright (no ``playwright install`` needed)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("playwright is not installed (pip install -r requirements.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        _browser_missing(f"no chromium at {CHROMIUM} (apt-get install chromium, or set SEQLAB_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class App:
    """One browser page on the app, with the helpers every journey needs."""

    page: Page
    url: str
    dialogs: list[str] = field(default_factory=list)
    # the page's clock (performance.now(), ms) when the last wait for a run ended; 0 on a new document
    _settled_at: float = 0.0

    def wait_for_run(self) -> None:
        """Wait until the script rerun started by the last interaction has finished.

        Streamlit marks its root element ``data-test-script-state`` (running -> notRunning on
        every rerun); its own e2e tests wait on it the same way. On a loaded machine a click can
        take longer to start its run than any fixed pause, and "notRunning" is then still the
        previous run's: so the page records when a run last started (:data:`RUN_WATCH`), and this
        waits for one that started just before the call or after it; failing that, after 200 ms,
        for any since the last wait (a fast run, or a timer's); failing that, for at most
        :data:`RUN_START_GRACE_MS` (an interaction that starts no run, a fill inside a form).
        """
        page = self.page
        called = page.evaluate("performance.now()")
        page.wait_for_function(
            f"""() => {{
                const started = window.__seqlabRunStarted || 0, now = performance.now();
                return started > Math.max({self._settled_at}, {called - 100}) || (now > {called + 200} && started > {self._settled_at})
                    || now > {called + RUN_START_GRACE_MS};
            }}""", timeout=TIMEOUT_MS)
        page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(
            state="attached", timeout=TIMEOUT_MS)
        page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
            state="attached", timeout=TIMEOUT_MS)
        page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=TIMEOUT_MS)
        # Lazily loaded elements (the data grid) show a skeleton until their code has arrived.
        page.locator("[data-testid='stSkeleton']").last.wait_for(state="detached", timeout=TIMEOUT_MS)
        self._settled_at = page.evaluate("performance.now()")

    def open(self, title: str) -> None:
        """Load the app and go to the page whose navigation entry is ``title``.

        A one-page app shows no navigation; then the first page must be the one asked for.
        """
        page = self.page
        page.goto(self.url)
        self._settled_at = 0.0  # a new document: its clock and RUN_WATCH's record start again
        page.locator("[data-testid='stAppViewContainer']").wait_for(state="attached", timeout=TIMEOUT_MS)
        self.wait_for_run()
        if page.locator("[data-testid='stSidebarNav']").count():
            self.go(title)
        elif not page.get_by_role("heading", name=title).count():
            pytest.fail(f"the app shows no navigation and its first page is not {title!r}")

    def go(self, title: str) -> None:
        """Click the navigation entry ``title``: another page in the same session, so what the
        session holds (the chosen project, say) stays, unlike :meth:`open`, which reloads."""
        nav = self.page.locator("[data-testid='stSidebarNav']")
        link = nav.get_by_role("link", name=title)
        if not link.count():
            pytest.fail(f"no page {title!r} in the navigation: {nav.inner_text()!r}")
        link.click()
        self.wait_for_run()

    def screenshot(self, name: str) -> Path:
        """The whole page as a PNG in test-artifacts/screenshots/ (kept out of git).

        Streamlit scrolls inside its main container, not the document, so ``full_page`` alone
        stops at the window: the window is made as tall as the content for the picture.
        """
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page = self.page
        size = page.viewport_size
        height = page.evaluate(CONTENT_HEIGHT)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
        try:
            page.wait_for_timeout(300)  # the data grid redraws its canvas at the new size
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(size)
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so ``app`` can tell a failed test at teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture()
def app(request, chromium, app_server) -> Iterator[App]:
    """A fresh context (no cookies, downloads allowed) with one page on the app."""
    yield from browse(request, chromium, app_server)


def new_context(chromium):
    """A fresh browser context (downloads allowed) whose pages :meth:`App.wait_for_run` can watch."""
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.add_init_script(RUN_WATCH)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def browse(request, chromium, url: str) -> Iterator[App]:
    """A fresh browser context on ``url`` as an :class:`App` (for a fixture's ``yield from``)."""
    context = new_context(chromium)
    page = context.new_page()
    result = App(page, url)

    def record(dialog) -> None:
        result.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", record)
    yield result
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        result.screenshot(f"FAILED-{request.node.name}")
    context.close()
