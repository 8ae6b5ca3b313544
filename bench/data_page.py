"""The Data page of a big project: import time, page render time, and the queries other pages run.

    python bench/data_page.py                       # 500,000 documents; about 4 minutes on 2 CPU cores
    python bench/data_page.py --total 100000 --no-browser --out /tmp/old.json   # e.g. on older code

In a throwaway ``SEQLAB_HOME`` (SQLite), the default project gets 100,000 distinct plain-text
lines through ``Services.import_file`` (the whole import is timed: parsing, checks, storing),
then more files of 100,000 lines up to ``--total`` documents. At each size the Data page is run
with ``streamlit.testing.v1.AppTest`` as a person opens it (first run: fresh session; then reruns),
and, at the last size, the service calls the other pages make (queue progress, next document,
training data summary) and an export on demand are timed, then the Train page's summary and a
job's training data once every document is marked corrected. With Chromium (``/usr/bin/chromium``)
a real ``streamlit run app.py`` is timed from navigation to the Data page's table on screen.
Prints the figures and saves JSON with the machine's description under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe, peak_rss_mib  # noqa: E402

STEP = 100_000
WORDS = ("the of and to in a is that for it as was with be by on not he I this are or his from at which but have an "
         "they you were her she there one all we their has been would more if will who when what so said can "
         "Paris London Berlin Alice Bob Acme Corp United Nations Monday report market bank shares minister "
         "river school village football season election company court police music film city year").split()


def lines(batch: int, count: int) -> bytes:
    """``count`` distinct plain-text lines of 8 to 25 words (seeded; batch ``n`` never repeats batch ``m``)."""
    rng = random.Random(batch)
    out = [f"{batch}-{i}: " + " ".join(rng.choices(WORDS, k=rng.randint(8, 25))) + " ." for i in range(count)]
    return ("\n".join(out) + "\n").encode()


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def render_data_page(reruns: int) -> dict:
    """Seconds for a first AppTest run of pages/data.py (new session) and for ``reruns`` reruns."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=900)
    first, _ = timed(at.run)
    assert not at.exception, at.exception
    assert len(at.dataframe) >= 1, "the Data page shows no table"
    again = [timed(at.run)[0] for _ in range(reruns)]
    result = {"first_s": round(first, 3), "rerun_median_s": round(statistics.median(again), 3) if again else None}
    pager = next((w for w in at.number_input if w.key == "documents_page"), None)
    if pager is not None:  # the paged table: jump to its last page
        pages = int(pager.max or 1)
        result["last_page_s"] = round(timed(pager.set_value(pages).run)[0], 3)
        result["last_page"] = pages
    return result


def other_queries(svc, project_id: int) -> dict:
    """Seconds of the calls other pages make on every run, and of each export on demand."""
    figures = {}
    for name, call in (("queue_progress", lambda: svc.queue_progress(project_id)),
                       ("next_document", lambda: svc.next_document(project_id)),
                       ("next_document_after_middle", lambda: svc.next_document(project_id, after_id=250_000)),
                       ("training_summary", lambda: _training_summary(svc, project_id)),
                       ("export_jsonl", lambda: svc.export_jsonl(project_id)),
                       ("export_column", lambda: svc.export_column(project_id, "BIO"))):
        figures[name + "_s"] = round(timed(call)[0], 3)
    return figures


def all_corrected(svc, project_id: int) -> dict:
    """Seconds of the Train page's summary and of loading a job's training data once every document
    is corrected (one SQL UPDATE, as if all of them had been annotated)."""
    from sqlalchemy import update

    from db.models import Document

    with svc.factory() as s, s.begin():
        s.execute(update(Document).where(Document.project_id == project_id).values(status="corrected"))
    seconds, data = timed(svc.training_documents, project_id)
    figures = {"training_summary_s": round(timed(_training_summary, svc, project_id)[0], 3),
               "training_documents_s": round(seconds, 3), "train_docs": len(data.train), "dev_docs": len(data.dev)}
    return figures


def _training_summary(svc, project_id: int):
    summary = getattr(svc, "training_summary", None) or svc.training_documents
    return summary(project_id)


def browser_render(home: Path) -> dict:
    """Seconds from navigating to the Data page (a real ``streamlit run`` and Chromium) to its table on screen."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, _healthy, _stop

    port = _free_port()
    env = {**os.environ, "SEQLAB_HOME": str(home), "SEQLAB_WORKER": "off", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start")
            time.sleep(0.25)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            times = []
            for _ in range(3):  # the first includes the server's imports and the grid's code download
                start = time.perf_counter()
                page.goto(f"{url}/data", timeout=900_000)
                page.get_by_role("heading", name="Documents").wait_for(timeout=900_000)
                page.locator("[data-testid='stDataFrame'] canvas").last.wait_for(timeout=900_000)
                page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
                    state="attached", timeout=900_000)
                times.append(time.perf_counter() - start)
            browser.close()
        return {"first_s": round(times[0], 3), "again_median_s": round(statistics.median(times[1:]), 3)}
    finally:
        _stop(server.pid, server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total", type=int, default=500_000, help="documents at the end (a multiple of 100,000)")
    parser.add_argument("--reruns", type=int, default=3, help="timed reruns of the Data page at each size")
    parser.add_argument("--no-browser", action="store_true", help="skip the streamlit run + Chromium figure")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "data_page.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqlab-bench-") as tmp:
        os.environ["SEQLAB_HOME"] = tmp
        os.environ.pop("SEQLAB_DB_URL", None)
        os.environ["SEQLAB_WORKER"] = "off"
        results = run(Path(tmp), args)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    out = {"benchmark": "data_page", "commit": commit.strip(), "machine": describe("cpu"), "args": vars(args),
           "peak_rss_mib": peak_rss_mib(), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"saved {args.out}")


def run(home: Path, args) -> dict:
    from services import Services

    svc = Services()
    project = svc.ensure_default_project()  # the project every page shows first
    results = {"sizes": []}
    for batch in range(1, args.total // STEP + 1):
        data = lines(batch, STEP)
        seconds, imported = timed(svc.import_file, project.id, f"lines-{batch}.txt", data)
        assert imported.added == STEP, imported
        total = svc.queue_progress(project.id).total
        print(f"{total:,} documents: import of {STEP:,} lines {seconds:.1f} s", flush=True)
        row = {"documents": total, "import_s": round(seconds, 2)}
        if batch == 1 or batch == args.total // STEP:
            row["data_page"] = render_data_page(args.reruns)
            print(f"  Data page (AppTest): {row['data_page']}", flush=True)
        results["sizes"].append(row)
    results["other_queries"] = other_queries(svc, project.id)
    print(f"  other queries: {results['other_queries']}", flush=True)
    results["all_corrected"] = all_corrected(svc, project.id)
    print(f"  every document corrected: {results['all_corrected']}", flush=True)
    svc.close()
    if not args.no_browser and os.access("/usr/bin/chromium", os.X_OK):
        results["browser_data_page"] = browser_render(home)
        print(f"  Data page (streamlit run + Chromium): {results['browser_data_page']}", flush=True)
    return results


if __name__ == "__main__":
    main()
