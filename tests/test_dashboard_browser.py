"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

`peftbench dashboard` is started in a subprocess on a free loopback port over a results folder built
here, and the page is checked the way a user would use it: it loads, a filter narrows the table, a bad
filter is reported inline, the Pareto plot renders, the CSV export downloads the filtered rows, and the
per-item browser shows a run's predictions and two runs side by side. Nothing is fetched off the machine.

Also a tool: `python tests/test_dashboard_browser.py --results DIR… --out docs/dashboard.png` serves
those folders the same way and saves a screenshot (docs/dashboard.md's).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from peftbench.analysis import answer, report_data
from peftbench.analysis.load import load_runs
from peftbench.records.record import ResultRecord
from peftbench.records.results import write_run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WAIT = 30  # seconds for anything on the page; a loaded 2-core machine is slow

pytestmark = [
    pytest.mark.slow,
    # Only a missing browser skips; with the browser present, a missing driver is a broken set-up and fails.
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian chromium and chromium-driver at /usr/bin (`make test` installs them)"),
]


# ---------------------------------------------------------------- a small results folder

RUNS = [  # (method, name, seed, accuracy, memory MB, forgetting or None, answers to items 1-3)
    ("lora", "default", 0, 0.50, 100, 0.05, ["12", "7", "30"]),
    ("lora", "default", 1, 0.45, 104, 0.06, ["12", "8", "30"]),
    ("ia3", "default", 0, 0.40, 50, None, ["12", "8", "31"]),
    ("vera", "default", 0, 0.20, 80, 0.01, ["11", "8", "31"]),
    ("full-finetuning", "default", 0, 0.55, 500, 0.10, ["12", "7", "31"]),
]
ITEMS = [("minimath/t1/0", "Ann has 5 apples and buys 7. How many?", "12"),
         ("minimath/t2/1", "Bob had 10 pens and lost 3. How many now?", "7"),
         ("minimath/t3/2", "6 boxes of 5 eggs. How many eggs?", "30")]


def write_results(folder: Path) -> Path:
    """Result records and predictions sidecars as `peftbench run` writes them (results.write_run)."""
    for method, name, seed, acc, mem_mb, forgetting, answers in RUNS:
        final = {"step": 10, "test accuracy": acc, "train loss": 0.5}
        if forgetting is not None:
            final["forgetting"] = forgetting
        peft = None if method == "full-finetuning" else {"peft_type": method.upper()}
        record = {
            "run_info": {"experiment_name": f"{method}/{name}", "task": "minimath", "seed": seed,
                         "peft_config": peft, "peftbench_version": "0.1.0",
                         "train_config": {"model_id": "embedded:SmolLM2-135M-Instruct", "seed": seed}},
            "train_info": {"status": "success", "train_time": 100.0 + mem_mb / 10, "total_time": 200.0,
                           "accelerator_memory_max": mem_mb * 2**20, "file_size": mem_mb * 1000,
                           "num_trainable_params": mem_mb * 1000, "memory_kind": "cpu-rss",
                           "metrics": [{"step": 5, "tokens / sec": 100.0}, final]},
        }
        predictions = [
            {"id": item_id, "prompt": question, "gold": gold, "prediction": f"... The answer is {answer}.",
             "extracted": answer, "correct": answer == gold}
            for (item_id, question, gold), answer in zip(ITEMS, answers)
        ]
        stem = f"{method}--{name}" + (f"--seed{seed}" if seed else "")
        write_run(ResultRecord.model_validate(record), predictions, folder, "minimath", stem)
    # an image task: similarity instead of accuracy, and sample images next to the result
    record = {"run_info": {"experiment_name": "lora/default", "task": "toy-image", "seed": 0,
                           "peft_config": {"peft_type": "LORA"}, "train_config": {"model_id": "tiny-unet"}},
              "train_info": {"status": "success", "train_time": 5.0, "accelerator_memory_max": 2**20,
                             "metrics": [{"step": 2, "test similarity": 0.7, "drift": 0.2}]}}
    path = write_run(ResultRecord.model_validate(record), [], folder, "toy-image", "lora--default")
    Image.new("RGB", (8, 8), "red").save(path.with_suffix(".samples.png"))
    return folder


# ---------------------------------------------------------------- server and browser

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`peftbench dashboard` in a subprocess; `ready()` waits until it answers and returns its URL."""

    def __init__(self, sources: list[Path]):
        port = free_port()
        args = [sys.executable, "-m", "peftbench", "dashboard", "--port", str(port)]
        for source in sources:
            args += ["--results", str(source)]
        self.url = f"http://127.0.0.1:{port}/"
        self.log = tempfile.TemporaryFile()
        # The server's temporary files (CSV exports, Gradio's cache) go to a folder removed after it.
        self.scratch = tempfile.TemporaryDirectory(prefix="peftbench-dashboard-test-")
        env = {**os.environ, "TMPDIR": self.scratch.name, "GRADIO_TEMP_DIR": self.scratch.name}
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def ready(self, timeout: float = 90) -> str:  # importing gradio takes ~10 s on a busy 2-core machine
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"dashboard exited with {self.process.returncode}: {output}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url, timeout=2) as reply:
                    if reply.status == 200:
                        return self.url
            if time.monotonic() > deadline:
                raise RuntimeError(f"dashboard did not answer within {timeout} s")
            time.sleep(0.3)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        self.scratch.cleanup()


@contextlib.contextmanager
def dashboard_server(sources: list[Path]):
    """Starts the server and yields it at once, so the browser can start while gradio imports."""
    server = Server(sources)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium(download_dir: Path, width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    profile = tempfile.TemporaryDirectory(prefix="peftbench-chromium-")
    options.add_argument(f"--user-data-dir={profile.name}")
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    # An explicit driver path: Selenium Manager never runs, so nothing is downloaded.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


def wait_for(driver, condition, what: str, timeout: float = WAIT):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # An element can vanish between finding and reading it while Gradio re-renders: just look again.
    waiting = WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    return waiting.until(lambda d: condition(d), message=what)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def table_rows(driver, elem_id: str) -> list[list[str]]:
    """The cells of a Gradio dataframe's rows (it renders them as a virtual list of div rows; the
    tables here are small enough that all are rendered). Read in one script: the page re-renders."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map("
        "  row => [...row.querySelectorAll('[role=gridcell]')].map(cell => cell.innerText.trim()))",
        f"#{elem_id} [role=row].virtual-row")


def table_headers(driver, elem_id: str) -> list[str]:
    return [th.get_attribute("title") for th in css(driver, f"#{elem_id} th[role=columnheader]")]


def choose(driver, elem_id: str, option: str) -> None:
    """Pick an option of a Gradio dropdown the way a user does: open it, click the option."""
    css(driver, f"#{elem_id} input")[0].click()
    wait_for(driver, lambda d: css(d, f'#{elem_id} li[role=option][aria-label="{option}"]'),
             f"option {option!r} of #{elem_id}")[0].click()


def open_dashboard(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: "experiments shown" in (css(d, "#row-count") or [None])[0].text
             if css(d, "#row-count") else False, "the table to load")


# ---------------------------------------------------------------- the test

def test_dashboard_in_headless_chromium(tmp_path):
    results = write_results(tmp_path / "results")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with dashboard_server([results]) as server, chromium(downloads) as driver:
        url = server.ready()
        open_dashboard(driver, url)
        # The answer first, the report's own sentence (the same verdicts); then one row per experiment.
        runs = load_runs([results])
        said = answer.sentence(report_data.build(runs, "lora")[0])
        wait_for(driver, lambda d: said in css(d, "#answer")[0].text, "the report's answer above the table")
        assert "4 of 4 experiments shown" in css(driver, "#row-count")[0].text
        wait_for(driver, lambda d: len(table_rows(d, "runs-table")) == 4, "the 4 experiments in the table")
        # ia3 has no forgetting figure: its cell is empty, not a made-up number
        header = table_headers(driver, "runs-table")
        ia3 = next(r for r in table_rows(driver, "runs-table") if r[0] == "ia3/default")
        assert ia3[header.index("forgetting")] == ""

        # the table sorts from a header's menu: lowest memory first
        column = header.index("train memory peak MB")
        memory = next(th for th in css(driver, "#runs-table th[role=columnheader]")
                      if th.get_attribute("title") == "train memory peak MB")
        memory.find_element("css selector", "span").click()  # the menu button shows on a selected header
        memory.find_element("css selector", "button.cell-menu-button").click()
        wait_for(driver, lambda d: [e for e in css(d, "[role=menu] *") if e.text.strip() == "Sort ascending"],
                 "the sort menu")[0].click()
        by_memory = ["50", "80", "102", "500"]  # lora: the mean of its two seeds
        wait_for(driver, lambda d: [r[column] for r in table_rows(d, "runs-table")] == by_memory,
                 "the table sorted by memory")

        # the Pareto plot renders (plotly draws svg); vera is dominated
        wait_for(driver, lambda d: css(d, "#pareto-plot .js-plotly-plot svg.main-svg"), "the Pareto plot")
        wait_for(driver, lambda d: "3 of 4 experiments on the front" in css(d, "#pareto-plot .gtitle")[0].text,
                 "the front's title")

        # a bad filter is reported inline; the table shows the whole selection
        box = css(driver, "#filter textarea, #filter input")[0]
        box.send_keys("__import__('os').system('echo pwned')\n")
        wait_for(driver, lambda d: "invalid filter" in css(d, "#filter-error")[0].text, "the inline filter error")
        assert len(table_rows(driver, "runs-table")) == 4

        # a filter narrows the table (headers as shown, bare multi-word column names)
        box.clear()
        box.send_keys("test accuracy >= 0.45 and method != full-finetuning\n")
        wait_for(driver, lambda d: "1 of 4 experiments shown" in css(d, "#row-count")[0].text, "the filtered count")
        assert css(driver, "#filter-error")[0].text.strip() == ""
        wait_for(driver, lambda d: [r[0] for r in table_rows(d, "runs-table")] == ["lora/default"],
                 "lora, the mean of its two seeds, in the table")

        # the CSV export downloads exactly the filtered rows
        css(driver, "#export-csv")[0].click()
        exported = wait_for(driver, lambda d: [p for p in downloads.glob("*.csv")], "the CSV download")[0]
        wait_for(driver, lambda d: exported.stat().st_size > 0, "the CSV to be written")
        with exported.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["experiment"], r["runs"]) for r in rows] == [("lora/default", "2")]
        assert [r["test accuracy %"] for r in rows] == ["47.5"]  # in %, as the report writes it

        # per-item browser: one run's answers, then two runs side by side on the same items
        choose(driver, "run-a", "ia3--default")
        wait_for(driver, lambda d: len(table_rows(d, "items-table")) == 3, "ia3's predictions")
        cells = " ".join(" ".join(r) for r in table_rows(driver, "items-table"))
        assert "Ann has 5 apples" in cells and "The answer is 31." in cells
        choose(driver, "run-b", "vera--default")
        wait_for(driver, lambda d: "prediction B" in table_headers(d, "items-table"),
                 "the side-by-side columns")
        css(driver, "#only-diff input")[0].click()  # ia3 and vera differ on the first item only
        wait_for(driver, lambda d: len(table_rows(d, "items-table")) == 1, "only the differing item")
        assert table_rows(driver, "items-table")[0][0] == "minimath/t1/0"

        # another task: its own metrics, and its sample images in the gallery; the filter still in the
        # box names a column this task lacks, which is said, and the task's runs are shown unfiltered
        assert not css(driver, "#samples img")
        choose(driver, "task", "toy-image")
        wait_for(driver, lambda d: "1 of 1 experiments shown" in css(d, "#row-count")[0].text, "the other task's runs")
        assert "unknown column 'test accuracy'" in css(driver, "#filter-error")[0].text
        wait_for(driver, lambda d: "similarity" in table_headers(d, "runs-table"), "the image task's metric")
        # the runs picked before belong to the other task: their items go
        wait_for(driver, lambda d: table_rows(d, "items-table") == [], "the items table to clear")
        wait_for(driver, lambda d: css(d, "#samples img"), "the samples gallery")

        # Reload picks up a run written while the page was open
        choose(driver, "task", "minimath")
        wait_for(driver, lambda d: "of 4 experiments shown" in css(d, "#row-count")[0].text, "minimath again")
        extra = json.loads((results / "minimath" / "ia3--default.json").read_text())
        extra["run_info"]["seed"] = 7
        write_run(ResultRecord.model_validate(extra), [], results, "minimath", "ia3--default--seed7")
        css(driver, "#reload")[0].click()
        wait_for(driver, lambda d: "test accuracy % ci low" in table_headers(d, "runs-table"), "the interval columns")

        # one row per run on demand: the filter (accuracy >= 0.45, not full fine-tuning) then applies to
        # each seed, and the new run is one of 6
        css(driver, "#per-experiment input")[0].click()
        wait_for(driver, lambda d: "2 of 6 runs shown" in css(d, "#row-count")[0].text, "the runs, one a row")

        # offline: every resource the page loaded came from the dashboard itself
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(name.startswith(url.rstrip("/")) or name.startswith(("data:", "blob:"))
                              for name in loaded), [n for n in loaded if not n.startswith(url.rstrip("/"))]


# ---------------------------------------------------------------- the docs' screenshot

def screenshot(sources: list[Path], out: Path, filter_text: str | None) -> None:
    with tempfile.TemporaryDirectory() as downloads, dashboard_server(sources) as server, \
            chromium(Path(downloads), width=1400, height=1900) as driver:
        open_dashboard(driver, server.ready())
        if filter_text:
            css(driver, "#filter textarea, #filter input")[0].send_keys(filter_text + "\n")
            time.sleep(3)
        wait_for(driver, lambda d: css(d, "#pareto-plot .js-plotly-plot svg.main-svg"), "the Pareto plot")
        time.sleep(2)  # let plotly finish drawing
        driver.save_screenshot(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Screenshot the dashboard serving these result folders.")
    parser.add_argument("--results", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--filter", default=None)
    arguments = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    screenshot(arguments.results, arguments.out, arguments.filter)
