"""The Annotate page's span editor against the word pills it replaced, in Chromium against `streamlit run`.

    python bench/editor.py                 # both editors, 100 / 1,000 / 10,000 words (about 15 minutes on 2 cores)
    python bench/editor.py --no-pills      # the span editor alone (about 2 minutes)

For each document size the page is opened on a queue of two documents of that many words, and
each action is timed with the page's own clock: ``performance.now()`` at the key or mouse event
(a capture listener on the window) to the moment the page shows the result (a MutationObserver
on the document sees the span element appear, change or go: "dom"), and to the next painted frame
("frame": requestAnimationFrame, then a task). Actions: open (the project chosen in the sidebar,
to the editor drawn), select (double-click a word), label (its key: the span appears), relabel,
resize (Shift+Right), delete, Accept (to the next document drawn). The span editor repeats the
edits ``--repeat`` times (median); the pills, each a server rerun, once. The pills have no relabel
or resize of their own: relabel there is the word's pill again and the other label, resize is the
first and the last word's pills and the label (a new span replaces the old). A pill counts until it
shows as pressed, which Streamlit does at once: its rerun goes on after that (the next click waits
for it, untimed), so the pills' "select" is a lower bound.

The pills are today's editor of commit 62ae257 (the commit before the span editor), run from a
``git worktree`` in /tmp with its own server and data folder: nothing of it is in the product.
JSON with the machine's description: bench/results/editor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

PILLS_COMMIT = "62ae257"
PILLS_TREE = Path("/tmp/old-annotate")
CHROMIUM = os.environ.get("SEQLAB_CHROMIUM", "/usr/bin/chromium")
PROBE = """() => {
  window.__bench = {
    // Resolve with {dom, frame} ms from the next keydown/mousedown to when ``pred`` holds.
    arm(predSource, timeoutMs) {
      const pred = new Function(`return (${predSource})`)(); // evaluated once: a predicate may keep state
      return new Promise((resolve, reject) => {
        setTimeout(() => reject(new Error(`not seen within ${timeoutMs} ms: ${predSource}`)), timeoutMs);
        let t0 = null, t1 = null;
        const start = () => { if (t0 === null) t0 = performance.now(); };
        window.addEventListener("keydown", start, true);
        window.addEventListener("mousedown", start, true);
        const check = () => {
          if (t0 === null || t1 !== null || !pred()) return;
          t1 = performance.now();
          observer.disconnect();
          window.removeEventListener("keydown", start, true);
          window.removeEventListener("mousedown", start, true);
          requestAnimationFrame(() => setTimeout(() => resolve({dom: t1 - t0, frame: performance.now() - t0}), 0));
        };
        const observer = new MutationObserver(check);
        observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
      });
    },
  };
}"""
VOCAB = ["the", "council", "met", "in", "Paris", "on", "Monday", "and", "said", "that", "Alice", "Smith", "would",
         "visit", "Acme", "Corp", "next", "year", "while", "prices", "rose", "sharply", "after", "talks"]


def document_text(words: int, seed: int) -> str:
    """``words`` words in sentences, with the unique words "Qalpha Qbeta" nine tenths of the way in."""
    rng = random.Random(seed)
    out = []
    for n in range(words - 2):
        if n == int(0.9 * words):
            out += ["Qalpha", "Qbeta"]
        out.append(rng.choice(VOCAB))
        if n % 17 == 16:
            out.append(".")
    return " ".join(out)


# ----------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(tree: Path, home: Path, sizes: list[int]) -> dict[int, list[int]]:
    """A project per size with two documents in its queue, made by that tree's own code."""
    script = (
        "import json, sys\n"
        "from services import Services\n"
        "svc = Services(sys.argv[1])\n"
        "svc.ensure_default_project()\n"
        "out = {}\n"
        "for n, texts in json.loads(sys.argv[2]).items():\n"
        "    p = svc.create_project(f'Bench {n}', ['PER', 'ORG', 'LOC'])\n"
        "    svc.import_file(p.id, 'bench.txt', ('\\n'.join(texts) + '\\n').encode())\n"
        "    first = svc.next_document(p.id)\n"
        "    out[n] = [first.id, svc.next_document(p.id, after_id=first.id).id]\n"
        "print(json.dumps(out))\n")
    texts = {n: [document_text(n, 1), document_text(n, 2)] for n in sizes}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("SEQLAB_DB_URL", None)
    done = subprocess.run([sys.executable, "-c", script, f"sqlite:///{home / 'seqlab.db'}", json.dumps(texts)],
                          cwd=tree, env=env, capture_output=True, text=True, check=True)
    return {int(n): ids for n, ids in json.loads(done.stdout.splitlines()[-1]).items()}


def start_server(tree: Path, home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "SEQLAB_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "SEQLAB_WORKER": "off"}
    env.pop("SEQLAB_DB_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.read() == b"ok":
                    return process, url
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"streamlit in {tree} did not start")


def stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


# ----------------------------------------------------------------------------- page steps


class Page:
    """One Chromium page on an app, with the probe and Streamlit's run state."""

    def __init__(self, browser, url: str, timeout_s: float):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(timeout_s * 1000)
        self.page = self.context.new_page()
        self.url = url
        self.timeout_s = timeout_s

    def open(self, project: str) -> None:
        page = self.page
        page.goto(f"{self.url}/annotate")
        self.settled()
        page.evaluate(PROBE)
        page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Project").click()
        self.option = page.get_by_role("option", name=project, exact=True)

    def settled(self) -> None:
        page = self.page
        page.wait_for_timeout(200)
        page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")
        page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")

    def timed(self, predicate: str, action) -> dict[str, float]:
        """Run ``action`` (a key press or a click) and time it to ``predicate`` with the page's clock."""
        self.page.evaluate("([src, ms]) => { window.__wait = window.__bench.arm(src, ms); }",
                           [predicate, self.timeout_s * 1000])
        action()
        result = self.page.evaluate("() => window.__wait")
        return {k: round(v, 1) for k, v in result.items()}

    def close(self) -> None:
        self.context.close()


def mark_is(word: str, label: str, scope: str = "") -> str:
    return (f"() => [...document.querySelectorAll('{scope} mark.seqlab-entity[data-label=\"{label}\"]')]"
            f".some(m => m.textContent.startsWith('{word}'))")


def no_mark(word: str, scope: str = "") -> str:
    return f"() => ![...document.querySelectorAll('{scope} mark.seqlab-entity')].some(m => m.textContent.startsWith('{word}'))"


def bench_editor(browser, url: str, n: int, docs: list[int], repeat: int, timeout_s: float) -> dict:
    """Open, edit and accept on the span editor."""
    ed = Page(browser, url, timeout_s)
    page = ed.page
    try:
        ed.open(f"Bench {n}")
        root = f".seqlab-editor.seqlab-editable[data-doc=\"{docs[0]}\"]"
        opened = ed.timed(f"() => !!document.querySelector('{root} .seqlab-text')", ed.option.click)
        build = page.evaluate("() => performance.getEntriesByName('seqlab-editor-build').at(-1).duration")
        ed.settled()
        units = page.locator(f"{root} .seqlab-unit").count()
        word = page.locator(f"{root} .seqlab-unit", has_text="Qalpha")
        runs: dict[str, list[dict]] = {k: [] for k in ("select", "label", "relabel", "resize", "delete")}
        scope = root.replace('"', '\\"')
        for _ in range(repeat):
            word.scroll_into_view_if_needed()
            runs["select"].append(ed.timed(
                "() => document.querySelector('.seqlab-unit.seqlab-sel') !== null", word.dblclick))
            runs["label"].append(ed.timed(mark_is("Qalpha", "LOC", scope), lambda: page.keyboard.press("3")))
            runs["relabel"].append(ed.timed(mark_is("Qalpha", "ORG", scope), lambda: page.keyboard.press("2")))
            runs["resize"].append(ed.timed(mark_is("Qalpha Qbeta", "ORG", scope),
                                           lambda: page.keyboard.press("Shift+ArrowRight")))
            runs["delete"].append(ed.timed(no_mark("Qalpha", scope), lambda: page.keyboard.press("Delete")))
        accept = ed.timed(f"() => !!document.querySelector('.seqlab-editor[data-doc=\"{docs[1]}\"] .seqlab-text')",
                          lambda: page.keyboard.press("Control+Enter"))
        result = {"units": units, "open": opened, "build_ms": round(build, 1), "accept": accept}
        for action, values in runs.items():
            result[action] = {k: round(statistics.median(v[k] for v in values), 1) for k in ("dom", "frame")}
            result[action]["max_frame"] = max(v["frame"] for v in values)
        return result
    finally:
        ed.close()


def bench_pills(browser, url: str, n: int, docs: list[int], timeout_s: float) -> dict:
    """The same actions on the pill editor of 62ae257: each click is a rerun of the page."""
    ed = Page(browser, url, timeout_s)
    page = ed.page
    try:
        ed.open(f"Bench {n}")
        result: dict = {}
        pills = page.get_by_test_id("stButtonGroup")
        result["open"] = ed.timed(
            f"() => document.querySelectorAll('[data-testid=stButtonGroup] button').length >= {n}", ed.option.click)
        ed.settled()
        result["units"] = pills.get_by_role("button").count()

        def pill(word):
            return pills.get_by_role("button", name=word, exact=True)

        def chosen(word):  # the pill shows as pressed (at once, before the rerun it starts is over)
            return (f"() => [...document.querySelectorAll('[data-testid=stButtonGroup] button')].some(b => "
                    f"b.textContent === '{word}' && b.getAttribute('aria-pressed') === 'true')")

        result["select"] = ed.timed(chosen("Qalpha"), pill("Qalpha").click)
        ed.settled()
        label_button = page.get_by_role("button", name="LOC", exact=False).filter(has_not_text="Qalpha").first
        result["label"] = ed.timed(mark_is("Qalpha", "LOC"), label_button.click)
        ed.settled()
        # relabelling is: select the word again, then the other label (the new span replaces the old)
        org_button = page.get_by_role("button", name="ORG").filter(has_not_text="Qalpha").first
        first = ed.timed(chosen("Qalpha"), pill("Qalpha").click)
        ed.settled()
        second = ed.timed(mark_is("Qalpha", "ORG"), org_button.click)
        ed.settled()
        result["relabel"] = {k: round(first[k] + second[k], 1) for k in ("dom", "frame")}
        # resizing is: select the first and the last word again, then the label (it replaces the old span)
        first = ed.timed(chosen("Qalpha"), pill("Qalpha").click)
        ed.settled()
        second = ed.timed(chosen("Qbeta"), pill("Qbeta").click)
        ed.settled()
        third = ed.timed(mark_is("Qalpha Qbeta", "ORG"), org_button.click)
        ed.settled()
        result["resize"] = {k: round(first[k] + second[k] + third[k], 1) for k in ("dom", "frame")}
        row = (page.get_by_test_id("stHorizontalBlock").filter(has=page.get_by_role("button", name="Delete"))
               .filter(has=page.locator("strong", has_text="Qalpha")))
        result["delete"] = ed.timed(no_mark("Qalpha"), row.get_by_role("button", name="Delete").click)
        ed.settled()
        result["accept"] = ed.timed(
            f"() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')].some(c => "
            f"c.textContent.includes('Document #{docs[1]} '))",
            page.get_by_role("button", name="Accept").click)
        return result
    finally:
        ed.close()


def pills_tree() -> Path:
    """The worktree of the pill editor's commit (made once)."""
    if not (PILLS_TREE / "pages" / "annotate.py").exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(PILLS_TREE), PILLS_COMMIT], cwd=ROOT, check=True,
                       capture_output=True)
    return PILLS_TREE


def run(variant: str, sizes: list[int], repeat: int, timeout_s: float, browser, save) -> dict:
    """Every size on one variant; ``save(out)`` after each, so a long run keeps what it measured."""
    tree = ROOT if variant == "editor" else pills_tree()
    with tempfile.TemporaryDirectory(prefix=f"bench-editor-{variant}-") as tmp:
        home = Path(tmp)
        docs = prepare(tree, home, sizes)
        process, url = start_server(tree, home)
        out = {}
        try:
            for n in sizes:
                started = time.monotonic()
                try:
                    out[str(n)] = (bench_editor(browser, url, n, docs[n], repeat, timeout_s) if variant == "editor"
                                   else bench_pills(browser, url, n, docs[n], timeout_s))
                except Exception as exc:  # a timeout on the pills' largest document is a result too
                    out[str(n)] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
                save(out)
                print(f"{variant:>6} {n:>6} words ({time.monotonic() - started:.0f} s): {json.dumps(out[str(n)])}",
                      flush=True)
        finally:
            stop(process)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pills", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--timeout", type=float, default=150, help="seconds one action may take")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "editor.json"))
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    results = {"machine": describe(), "chromium": CHROMIUM, "repeat": args.repeat,
               "measured": "ms from the key/mouse event to the DOM change (dom) and to the next frame (frame)"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        results["chromium_version"] = browser.version

        def saver(variant):
            def save(out):
                results[variant] = out
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
            return save

        try:
            run("editor", args.sizes, args.repeat, args.timeout, browser, saver("editor"))
            if args.pills:
                run("pills", args.sizes, 1, args.timeout, browser, saver("pills"))
        finally:
            browser.close()
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
