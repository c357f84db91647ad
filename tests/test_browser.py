"""The built site in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The full site is built once per session (and the small catalogue of test_site, with hostile names, as a
second site holding every kind of page) and served on 127.0.0.1 by a threaded server; one browser
serves the session and every test opens its own context. Every wait is on the page's own ready signal,
never on time or network idleness: charts set ``data-state="rendered"`` (or ``error``), the picker,
the explorer and the calculator set ``data-state="ready"`` on their ``.va-widget`` when their answer
is on the page (the calculator also ``data-calc-state`` and ``data-argv``, the explorer
``data-view``); a tab leaves a page through about:blank, so what that page was still loading is cut
off there and never counted against the next.

Checks: every page of the small site loads without a console error or a failed request and makes no
request to another host, and every page of the full site loads only files the site has; every chart
draws; axe-core (vendored in tests/vendor) finds no serious or critical violation on any page type,
on a desktop and on a phone; nothing is wider than a 390 px phone and chart labels are at least
11 px; the calculator equals ``vramatlas estimate --json`` to the byte on many cases and keeps its
state in the URL; the explorer and the home page's GPU picker too.

Environment: $VRAMATLAS_SHOTS, where the screenshots go (default /tmp/team/shots);
$VRAMATLAS_BROWSER_OUT, a folder to keep the full build in between sessions (rebuilt when stale,
never one inside the repository that git does not ignore).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode, urlparse

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("VRAMATLAS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
]
SHOTS = Path(os.environ.get("VRAMATLAS_SHOTS", "/tmp/team/shots"))
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
CALC_TIMEOUT = 180_000  # ms: Pyodide's first start on a slow, shared CPU

# A skipped browser test is not a passing one: under CI (CI=true) a missing
# browser fails the run; elsewhere it is skipped with the reason.
_MISSING = None
try:
    import playwright.sync_api as playwright_sync
except ImportError:
    _MISSING = "playwright is not installed (pip install -e '.[test]')"
if _MISSING is None and not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    _MISSING = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set VRAMATLAS_CHROMIUM)"
if _MISSING:
    if os.environ.get("CI"):
        pytest.fail(_MISSING, pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_site(full_build):
    """The whole site, built once per session (tests/conftest.py's full_build; VRAMATLAS_BROWSER_OUT=DIR
    keeps it in DIR between runs, rebuilt there when stale)."""
    return full_build


def serving(site):
    """The site's URL while a local server in a thread serves it (a fixture's body: ``yield from``)."""
    from vramatlas.site.serve import serve_in_thread

    srv, base = serve_in_thread(site)
    yield base
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="session")
def server(built_site):
    yield from serving(built_site.site)


@pytest.fixture(scope="session")
def small_site(hostile_site):
    """The small catalogue of test_site (7 GPUs, 6 families, every method) with hostile names: every
    kind of page the full site has, built in seconds (tests/conftest.py)."""
    return hostile_site


@pytest.fixture(scope="session")
def small_server(small_site):
    yield from serving(small_site.site)


@pytest.fixture(scope="session")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=ARGS
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def catalog():
    from vramatlas.catalog import load_catalog

    return load_catalog()


READY = (
    "() => [...document.querySelectorAll('.vega-chart')].every(e => "
    "['rendered', 'error'].includes(e.getAttribute('data-state'))) && "
    "[...document.querySelectorAll('.va-widget')].every(e => "
    "['ready', 'error'].includes(e.getAttribute('data-state')))"
)


class Visit:
    """A tab of its own (a fresh browser context), recording console errors and every request
    (``reset`` between pages)."""

    def __init__(self, browser, base: str, viewport: dict | None = None, **context):
        self.base = base
        phone = (viewport or DESKTOP)["width"] < 600
        self.context = browser.new_context(viewport=viewport or DESKTOP, is_mobile=phone, has_touch=phone, **context)
        self.page = self.context.new_page()
        self.generation = 0  # which page a request belongs to: bumped once the previous page is gone
        self.born: dict = {}
        self.expect_404 = False
        self.reset()
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", self._started)
        self.page.on("requestfailed", self._failed)
        self.page.on(
            "response",
            lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 and not self.expect_404 else None,
        )
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def _started(self, request):
        self.born[request] = self.generation
        self.requests.append(request.url)

    def _failed(self, request):
        if self.born.get(request, -1) < self.generation and "ABORTED" in str(request.failure):
            return  # a request of a page we left, cut off by leaving it (its search index ...): not this page's
        self.failed.append(f"{request.failure} {request.url}")

    def reset(self):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.failed: list[str] = []

    def open(self, path: str, timeout: int = 60_000):
        """Leave the page before (through about:blank, so whatever it still loads is cut off there, and
        known to be its own), then load ``path`` and wait until it says it is ready."""
        self.generation += 1  # first: what the page before started and leaving it cuts off is not this page's
        if self.page.url != "about:blank":
            self.page.goto("about:blank")
        self.page.goto(self.base + path, wait_until="load")
        self.ready(timeout)
        return self.page

    def ready(self, timeout: int = 60_000):
        """Wait on the page's own signals: charts drawn, tools answered."""
        self.page.wait_for_function(READY, timeout=timeout)

    def problems(self, path: str) -> list[str]:
        """What is wrong with the page as it is now: an undrawn chart or unanswered tool, a chart without
        marks, a console error, a failed request, a request to another host."""
        page = self.page
        out = []
        states = page.eval_on_selector_all(
            ".vega-chart, .va-widget", "els => els.map(e => e.getAttribute('data-state'))"
        )
        if any(s not in ("rendered", "ready") for s in states):
            out.append(f"{path}: chart/widget states {states}")
        for i, n in enumerate(_marks(page)):
            if n == 0:
                out.append(f"{path}: chart {i} drew no marks")
        if self.errors:
            out.append(f"{path}: console {self.errors[:3]}")
        if self.failed:
            out.append(f"{path}: failed requests {self.failed[:3]}")
        if self.foreign():
            out.append(f"{path}: requests to other hosts {self.foreign()[:3]}")
        return out

    def foreign(self) -> list[str]:
        host = urlparse(self.base).netloc
        return [
            u
            for u in self.requests
            if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).netloc != host
        ]

    def axe(self) -> list[str]:
        """Serious and critical axe-core violations on the page as it is now."""
        self.page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        return self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact))"
            ".map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`)"
        )

    def close(self):
        self.context.close()


def _pages(site: Path) -> list[str]:
    out = []
    for p in sorted(site.rglob("index.html")):
        rel = p.parent.relative_to(site).as_posix()
        out.append("" if rel == "." else rel + "/")
    return out


def _marks(page) -> list[int]:
    """Per chart: the number of drawn SVG shapes (paths, rects, lines, symbols) inside it."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.vega-chart')].map(e => "
        "e.querySelectorAll('svg .mark-rect path, svg .mark-symbol path, svg .mark-line path, "
        "svg .mark-rule line, svg .mark-area path, svg .mark-text text').length)"
    )


# One page of each kind (the calculator, the explorer and the picker are tools; the rest read).
PAGE_TYPES = (
    "",
    "calculator/",
    "explorer/",
    "gpus/",
    "gpus/rtx-4090/",
    "models/",
    "models/llama-3.1/",
    "models/llama-3.1/llama-3.1-8b/",
    "methods/",
    "methods/qlora/",
    "methodology/",
    "rules-of-thumb/",
    "downloads/",
    "published-figures/",
    "contributing/",
    "404.html",
)


# ------------------------------------------------------------------ every page


def test_every_page_loads_clean_and_local(browser, small_server, small_site, built_site):
    """Every page of the small site (every kind of page the full one has, hostile names in all of them)
    in the browser; every page of the full site read for what it loads (its page types load in the
    axe tests below, which check them the same way)."""
    full = _pages(built_site.site)
    assert len(full) > 200 and "calculator/" in full
    assert {_kind(p) for p in full} == {_kind(p) for p in _pages(small_site.site)}
    problems = []
    v = Visit(browser, small_server)  # one tab for all pages: a new context per page doubles the time
    try:
        for path in _pages(small_site.site):
            v.reset()
            v.open(path, timeout=CALC_TIMEOUT)
            problems += v.problems(path)
    finally:
        v.close()
    for path in full:
        problems += _missing_references(built_site.site, path)
    # the GPU pages' long tables are on the page but not in the search index (site/hooks.py)
    page = (built_site.site / "gpus" / "rtx-4090" / "index.html").read_text(encoding="utf-8")
    assert page.count("<table data-search-exclude") >= 1
    index = json.loads((built_site.site / "search" / "search_index.json").read_text(encoding="utf-8"))
    gpu_text = sum(len(e["text"]) for e in index["docs"] if e["location"].startswith("gpus/rtx-4090/"))
    assert 0 < gpu_text < 20_000, gpu_text
    assert not problems, "\n".join(problems[:30])


def _kind(path: str) -> str:
    """A page's kind: its top folder and depth (gpus/x/, models/x/, models/x/y/ ...)."""
    parts = path.strip("/").split("/")
    return f"{parts[0]}/{len(parts)}" if path else "home"


def _missing_references(site: Path, path: str) -> list[str]:
    """Scripts, styles, images and links of a page that are not files of the site, or that load from
    another host; Markdown tables left as text."""
    import re

    from test_site import raw_markdown_tables

    page = site / path / "index.html"
    text = page.read_text(encoding="utf-8")
    out = [f"{path}: a Markdown table shown as text: {t!r}" for t in raw_markdown_tables(text)[:1]]
    for tag in re.findall(r"<(?:script|img|link|a)\b[^>]*>", text):
        name = re.match(r"<(\w+)", tag).group(1)
        found = re.search(r'\b(?:src|href)="([^"]*)"', tag)
        if not found or re.search(r'rel="(canonical|alternate)"', tag):
            continue  # a link rel=canonical is an address, not a fetch
        url = found.group(1)
        if re.match(r"^(https?:)?//", url):
            if name != "a":
                out.append(f"{path}: loads {url}")
            continue
        if url.startswith(("#", "mailto:", "data:", "javascript:")) or not url:
            continue
        target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            out.append(f"{path}: {name} {url} is not in the site")
    return out


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_serious_violation_on_any_page_type(browser, server, viewport):
    """On the full site; each page type is checked for what test_every_page checks on the small one too."""
    v = Visit(browser, server, viewport)
    found, problems = {}, []
    try:
        for path in PAGE_TYPES:
            v.reset()
            v.open(path, timeout=CALC_TIMEOUT)
            problems += v.problems(path)
            bad = v.axe()
            if bad:
                found[path or "home"] = bad
    finally:
        v.close()
    assert not found, json.dumps(found, indent=1)
    assert not problems, "\n".join(problems)


def test_phone_nothing_wider_than_the_screen_and_labels_readable(browser, server, catalog):
    v = Visit(browser, server, PHONE)
    problems = []
    try:
        for path in PAGE_TYPES:
            page = v.open(path, timeout=CALC_TIMEOUT)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                problems.append(f"{path}: the page is {width} px wide")
            # anything sticking out of the screen must sit in a box of its own that scrolls
            loose = page.evaluate(
                "() => [...document.querySelectorAll('article *')].filter(e => {"
                " const r = e.getBoundingClientRect(); if (r.right <= innerWidth + 1) return false;"
                " for (let p = e.parentElement; p && p.tagName !== 'ARTICLE'; p = p.parentElement) {"
                "  const o = getComputedStyle(p).overflowX; if ((o === 'auto' || o === 'scroll') && p.getBoundingClientRect().right <= innerWidth + 1) return false; }"
                " return true; }).slice(0, 3).map(e => e.tagName + '.' + (e.getAttribute('class') || ''))"
            )
            if loose:
                problems.append(f"{path}: wider than the screen, outside a scroll box: {loose}")
            small = page.evaluate(
                "() => [...document.querySelectorAll('.vega-chart svg text')].map(t => parseFloat(getComputedStyle(t).fontSize))"
                ".filter(s => s < 11)"
            )
            if small:
                problems.append(f"{path}: {len(small)} chart labels under 11 px (smallest {min(small)})")
            # every chart, the heatmap too, is drawn at its box's width: none scrolls sideways
            drawn = page.evaluate(
                "() => [...document.querySelectorAll('.vega-chart')].map(e => {"
                " const s = e.querySelector('svg'), t = e.querySelector('.vega-target');"
                " return s ? [e.id, s.getBoundingClientRect().width, e.clientWidth, t.scrollWidth - t.clientWidth] : null; })"
                ".filter(x => x && (x[1] > x[2] + 2 || x[3] > 1))"
            )
            if drawn:
                problems.append(f"{path}: charts wider than their box [id, drawn, box, overflow]: {drawn}")
        # the heatmap on the phone: every GPU's row named (at 11 px or more, checked above), in the box
        page = v.open("", timeout=CALC_TIMEOUT)
        heat = page.evaluate(
            "() => { const e = document.getElementById('home-heatmap'), s = e.querySelector('svg');"
            " return {svg: s.getBoundingClientRect().width, box: e.clientWidth,"
            " gpus: [...s.querySelectorAll('.role-axis-label text')].length,"
            " cells: s.querySelectorAll('.mark-rect path').length}; }"
        )
        assert 300 < heat["svg"] <= heat["box"] + 1 <= PHONE["width"], heat
        assert heat["gpus"] == len(catalog.gpus) and heat["cells"] == len(catalog.gpus) * len(catalog.variants), heat
    finally:
        v.close()
    assert not problems, "\n".join(problems)


def test_dark_mode_charts_follow_the_theme(browser, server):
    v = Visit(browser, server, color_scheme="dark")
    try:
        page = v.open("models/llama-3.1/llama-3.1-8b/")
        assert page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == "slate"
        colours = page.evaluate(
            "() => [...document.querySelectorAll('.vega-chart svg .role-axis-label text')].slice(0, 5)"
            ".map(t => getComputedStyle(t).fill)"
        )
        assert colours, "no axis labels found"
        for c in colours:  # light text on the dark page: every channel above the middle
            channels = [int(x) for x in c[c.index("(") + 1 : c.index(")")].split(",")[:3]]
            assert min(channels) > 128, f"axis label colour {c} on a dark page"
        backgrounds = page.evaluate(
            "() => [...document.querySelectorAll('.vega-chart svg > rect.background, .vega-chart svg .background')]"
            ".map(r => r.getAttribute('fill') || getComputedStyle(r).fill)"
        )
        assert all(b in ("transparent", "none", "rgba(0, 0, 0, 0)") for b in backgrounds), backgrounds
    finally:
        v.close()


def test_404_keeps_its_styles_at_any_depth(browser, server):
    v = Visit(browser, server)
    v.expect_404 = True
    try:
        for path in ("no-such-page/", "gpus/no/such/card/"):
            v.reset()
            page = v.open(path)
            assert "404" in page.content()
            sheets = page.evaluate("() => [...document.styleSheets].filter(s => s.href).map(s => s.href)")
            assert any(s.endswith("assets/css/vramatlas.css") for s in sheets), sheets
            # only 404s (the page itself) and the preload scanner's guesses, cancelled (ERR_ABORTED) once
            # the page's <base> is known, may not finish; anything else failing is a broken 404 page
            assert not [f for f in v.failed if not f.startswith(("404 ", "net::ERR_ABORTED"))], v.failed
            home = page.locator("a.md-header__button.md-logo").get_attribute("href")
            with page.expect_navigation(wait_until="load"):  # not wait_for_load_state: this page is loaded
                page.locator("a.md-header__button.md-logo").click()
            assert urlparse(page.url).path == "/", (home, page.url)
    finally:
        v.close()


def test_screenshots(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        v = Visit(browser, server, viewport)
        try:
            for name, path in (
                ("home", ""),
                ("calculator", "calculator/"),
                ("gpu-rtx-4090", "gpus/rtx-4090/"),
                ("explorer", "explorer/"),
            ):
                page = v.open(path, timeout=CALC_TIMEOUT)
                page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=False)
                page.screenshot(path=str(SHOTS / f"{name}-{label}-full.png"), full_page=True)
            assert not v.errors
        finally:
            v.close()


# ------------------------------------------------------------------ the calculator


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("vramatlas")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vramatlas"]
    env = {k: v for k, v in os.environ.items() if k != "VRAMATLAS_CATALOG_JSON"}
    return subprocess.run(cmd + ["estimate", *args, "--json"], capture_output=True, text=True, env=env, timeout=120)


def _calc_answer(page, query: str, expected_argv: list[str]) -> dict:
    """Set the calculator's fields from ``query`` and wait for its answer to that argv."""
    page.evaluate("q => window.vramatlasCalculator.set(q)", query)
    page.wait_for_function(
        "want => { const r = document.getElementById('calc-result');"
        " return r.getAttribute('data-calc-state') === 'ready' && r.getAttribute('data-argv') === want; }",
        arg=json.dumps(expected_argv, separators=(",", ":")),
        timeout=CALC_TIMEOUT,
    )
    return page.evaluate(
        "() => { const r = document.getElementById('calc-result'); return {"
        " json: document.getElementById('calc-json').textContent, exit: r.getAttribute('data-exit'),"
        " peak: r.getAttribute('data-peak-bytes'), verdict: document.getElementById('calc-verdict').textContent }; }"
    )


def _argv(case: dict) -> list[str]:
    out = []
    for name, value in case.items():
        if value is True:
            out.append(f"--{name}")
        elif name == "grad-checkpointing":
            out.append("--grad-checkpointing" if value == "yes" else "--no-grad-checkpointing")
        else:
            out += [f"--{name}", str(value)]
    return out


def calculator_cases(catalog, n: int = 60, seed: int = 12) -> list[dict]:
    """Cases drawn across models, methods, runtimes and GPUs (every method at least once), with the
    other options varied; in the order of the CLI's options, as the page writes its argv."""
    from vramatlas.site.calculator import estimate_options

    names = [o["name"] for o in estimate_options()]
    rng = random.Random(seed)
    models = sorted(catalog.variants)
    methods = sorted(catalog.methods)
    gpus = sorted(catalog.gpus)
    runtimes = sorted(getattr(catalog, "runtimes", None) or {})
    cases = []
    for i in range(n):
        method = methods[i % len(methods)]
        m = catalog.methods[method]
        fams = m.get("for_weights_native")
        pool = [
            v for v in models if not fams or catalog.models[catalog.variants[v]["family"]].get("weights_native") == fams
        ] or models
        case = {"model": rng.choice(pool), "method": method}
        longest = int((catalog.variants[case["model"]].get("config") or {}).get("max_position_embeddings") or 2048)
        case["seq-len"] = rng.choice([x for x in (512, 1024, 2048, 3000, 4096, 8192) if x <= longest] or [256])
        if m.get("kind") != "training" and rng.random() < 0.4:
            case["new-tokens"] = rng.choice([1, 16, 128])
        if rng.random() < 0.4:
            case["batch"] = rng.choice([1, 2, 4])
        if rng.random() < 0.85:
            case["gpu"] = rng.choice(gpus)
            if rng.random() < 0.3:
                case["gpus"] = rng.choice([2, 4, 8])
                if m.get("kind") == "training" and rng.random() < 0.5:
                    case["parallelism"] = rng.choice(["zero2", "zero3", "fsdp", "ddp"])
        if m.get("kind") == "training":
            if rng.random() < 0.4:
                case["grad-checkpointing"] = rng.choice(["yes", "no"])
            if m.get("trainable") == "lora" and rng.random() < 0.5:
                case["lora-rank"] = rng.choice([8, 32, 64])
                if rng.random() < 0.5:
                    case["lora-targets"] = "q_proj,v_proj"
            if rng.random() < 0.3:
                case["optimizer"] = rng.choice(["adamw8bit", "sgd", "adamw-fp32"])
        if runtimes and "runtime" in names and rng.random() < 0.5:
            case["runtime"] = rng.choice(runtimes)
        cases.append({k: case[k] for k in names if k in case})
    # bad input: the page shows the CLI's own one-line error
    cases.append({"model": "llama-3.1-8", "method": "qlora"})
    cases.append({"model": "llama-3.1-8b", "method": "inference-bf16", "seq-len": -5})
    return cases


def test_calculator_equals_the_cli_to_the_byte(browser, server, catalog):
    cases = calculator_cases(catalog)
    assert len(cases) >= 50
    assert len({c["model"] for c in cases}) >= 20 and len({c["method"] for c in cases}) == len(catalog.methods)
    assert len({c.get("gpu") for c in cases}) >= 20
    v = Visit(browser, server)
    differ, answered = [], 0
    try:
        page = v.open("calculator/", timeout=CALC_TIMEOUT)
        for case in cases:
            argv = _argv(case)
            got = _calc_answer(page, urlencode(case), argv)
            cli = _cli(argv)
            if cli.returncode == 0:
                answered += 1
                if got["exit"] != "0" or got["json"] != cli.stdout:
                    differ.append(f"{' '.join(argv)}: page exit {got['exit']} {got['verdict']!r}")
                elif got["peak"] != str(json.loads(cli.stdout)["peak_bytes"]):
                    differ.append(f"{' '.join(argv)}: data-peak-bytes {got['peak']}")
            else:
                line = cli.stderr.strip().splitlines()[0]
                if got["exit"] == "0" or line not in got["verdict"]:
                    differ.append(f"{' '.join(argv)}: CLI exit {cli.returncode} {line!r}, page {got['verdict']!r}")
        assert not v.errors and not v.foreign(), (v.errors, v.foreign())
    finally:
        v.close()
    assert not differ, "\n".join(differ)
    assert answered >= 50


def test_calculator_state_is_in_the_url(browser, server):
    query = {"model": "qwen2.5-7b", "method": "lora", "seq-len": "4096", "gpu": "rtx-3090", "lora-rank": "32"}
    v = Visit(browser, server)
    try:
        page = v.open("calculator/?" + urlencode(query), timeout=CALC_TIMEOUT)
        for name, value in query.items():
            assert page.locator(f"#calc-form [name='{name}']").input_value() == value
        result = page.locator("#calc-result")
        assert json.loads(result.get_attribute("data-argv")) == _argv(query)
        cli = json.loads(_cli(_argv(query)).stdout)
        assert result.get_attribute("data-peak-bytes") == str(cli["peak_bytes"])
        # a change in the form is written to the address bar, and the address brings it back
        page.select_option("#calc-form [name='method']", "qlora")
        page.wait_for_function(
            "() => document.getElementById('calc-result').getAttribute('data-argv').includes('qlora')"
            " && document.getElementById('calc-result').getAttribute('data-calc-state') === 'ready'",
            timeout=CALC_TIMEOUT,
        )
        url = page.url
        assert "method=qlora" in url and "lora-rank=32" in url
        page.goto(url, wait_until="load")
        v.ready(CALC_TIMEOUT)
        assert page.locator("#calc-form [name='method']").input_value() == "qlora"
        cli = json.loads(_cli(_argv({**query, "method": "qlora"})).stdout)
        assert page.locator("#calc-result").get_attribute("data-peak-bytes") == str(cli["peak_bytes"])
        assert page.locator("#calc-cmd").inner_text().startswith("vramatlas estimate --model qwen2.5-7b --method qlora")
    finally:
        v.close()


# Hub ids and the model's own config.json the repository keeps for it (tests/fixtures/configs/sources.yaml)
HUB_CONFIGS = {
    "google/gemma-3-1b-it": REPO / "tests" / "fixtures" / "configs" / "gemma-3-1b-it.json",
    "nvidia/Nemotron-H-8B-Base-8K": REPO / "tests" / "fixtures" / "configs" / "nemotron-h-8b-base-8k.json",
}
CORS = {"access-control-allow-origin": "*"}


def test_calculator_fetches_a_hub_config_and_says_when_it_cannot(browser, server):
    """A Hub id in the model field: the page fetches huggingface.co/<id>/resolve/main/config.json (here
    answered by the browser's own router with the repository's copy of that file: there is no network)
    and answers exactly as `vramatlas estimate --config <that file>`; a 404 or no network is one clear
    line on the page, not a hang."""
    asked = []

    def hub(route):
        hub_id = urlparse(route.request.url).path.removesuffix("/resolve/main/config.json").strip("/")
        asked.append(hub_id)
        if hub_id.startswith("offline/"):
            route.abort("internetdisconnected")
        elif hub_id in HUB_CONFIGS:
            route.fulfill(
                status=200, content_type="application/json", body=HUB_CONFIGS[hub_id].read_bytes(), headers=CORS
            )
        else:
            route.fulfill(status=404, content_type="text/plain", body="Entry not found", headers=CORS)

    v = Visit(browser, server)
    try:
        v.context.route("https://huggingface.co/**", hub)
        page = v.open("calculator/", timeout=CALC_TIMEOUT)
        for hub_id, config in HUB_CONFIGS.items():
            case = {"model": hub_id, "method": "inference-bf16", "seq-len": "4096", "gpu": "rtx-4090"}
            rest = _argv(case)[2:]
            got = _calc_answer(page, urlencode(case), ["--config", "/tmp/vramatlas-config.json", *rest])
            cli = _cli(["--config", str(config), *rest])
            assert cli.returncode == 0, cli.stderr
            assert got["exit"] == "0" and got["json"] == cli.stdout, (hub_id, got["verdict"])
            assert got["peak"] == str(json.loads(cli.stdout)["peak_bytes"])
            # the command shown is the one a user types: the Hub id, not the page's own copy of its config
            shown = page.evaluate("() => document.getElementById('calc-cmd').textContent")
            assert f"--model {hub_id} " in shown and "/tmp/" not in shown, shown
        for hub_id, said in (("nobody/no-such-model", "HTTP 404"), ("offline/any-model", "could not fetch")):
            case = {"model": hub_id, "method": "inference-bf16", "gpu": "rtx-4090"}
            got = _calc_answer(page, urlencode(case), _argv(case))
            assert got["exit"] == "2" and said in got["verdict"] and hub_id in got["verdict"], got["verdict"]
            assert "config.json instead" in got["verdict"]
        assert asked == [*HUB_CONFIGS, "nobody/no-such-model", "offline/any-model"], asked
        assert {urlparse(u).netloc for u in v.foreign()} == {"huggingface.co"}
        # the browser's own console lines for the two refused fetches, and nothing else
        assert sorted(v.errors) == [
            "error: Failed to load resource: net::ERR_INTERNET_DISCONNECTED",
            "error: Failed to load resource: the server responded with a status of 404 (Not Found)",
        ], v.errors
    finally:
        v.close()


def test_calculator_offers_every_estimate_option(browser, server):
    from vramatlas.site.calculator import estimate_options

    v = Visit(browser, server)
    try:
        page = v.open("calculator/", timeout=CALC_TIMEOUT)
        names = set(page.eval_on_selector_all("#calc-form [name]", "els => els.map(e => e.name)"))
        want = {o["name"] for o in estimate_options()}
        assert want <= names, want - names
        assert page.locator("#calc-chart svg .mark-rect path").count() > 0  # the breakdown is drawn
    finally:
        v.close()


# ------------------------------------------------------------------ explorer and picker


def test_explorer_follows_its_controls_and_the_url(browser, server, catalog):
    v = Visit(browser, server)
    try:
        page = v.open("explorer/?gpu=rtx-3060-12gb&method=inference-nf4&seq-len=32768&batch=8")
        assert page.locator("#va-ex-gpu").input_value() == "rtx-3060-12gb"
        assert page.locator("#va-ex-method").input_value() == "inference-nf4"
        assert page.locator("#va-explorer").get_attribute("data-view") == "rtx-3060-12gb|inference-nf4|32768|8"
        rows = page.locator("#va-ex-table tbody tr")
        assert rows.count() == len(catalog.variants)  # every model, those beyond their context marked
        # the models without a bar are exactly those the data has no row for, each marked in the table
        curves = page.evaluate("() => fetch('../data/curves.json').then(r => r.json())")
        drawn = {r["i"] for r in curves if r["t"] == "inference-nf4" and r["s"] == 32768 and r["b"] == 8}
        marked = page.eval_on_selector_all("#va-ex-table tbody tr.va-beyond", "rs => rs.map(r => r.id.slice(10))")
        assert set(marked) == set(catalog.variants) - drawn and marked
        chart_rows = page.evaluate(
            "() => document.getElementById('explorer').vegaView.data('rows')"
            ".map(r => [r.m, r.gib === null ? null : r.gib.toFixed(2)])"
        )
        table_rows = page.evaluate(
            "() => [...document.querySelectorAll('#va-ex-table tbody tr')]"
            ".map(r => [r.cells[0].textContent, r.cells[1].textContent])"
        )
        assert [[m, g or "\u2014"] for m, g in chart_rows] == table_rows
        before = page.locator("#va-ex-table tbody").inner_text()
        controls = page.locator(".va-ex-controls").bounding_box()
        page.select_option("#va-ex-gpu", "h200")
        page.wait_for_function(
            "() => document.getElementById('va-explorer').getAttribute('data-view')"
            ".startsWith('h200|') && document.getElementById('va-explorer')"
            ".getAttribute('data-state') === 'ready'"
        )
        assert "gpu=h200" in page.url and "seq-len=32768" in page.url
        assert page.locator("#va-ex-table tbody").inner_text() != before
        page.locator("#va-ex-ctx").fill("0")
        page.wait_for_function(
            "() => document.getElementById('va-explorer').getAttribute('data-view').split('|')[2] === '2048'"
        )
        assert page.locator(".va-ex-controls").bounding_box() == controls  # the controls never move
        page.locator("#va-ex-table tbody tr").first.click()
        assert "GiB" in page.locator("#va-ex-detail").inner_text()
        assert not v.errors and not v.foreign()
    finally:
        v.close()


def test_home_picker_answers_for_the_chosen_gpu(browser, server, catalog):
    v = Visit(browser, server)
    try:
        page = v.open("?gpu=h200")
        assert page.locator("#va-gpu").input_value() == "h200"
        assert "H200" in page.locator("#va-picker-summary").inner_text()
        rows = page.locator("#va-picker tbody tr")
        assert rows.count() == len(catalog.variants)
        first_link = page.locator("#va-picker tbody tr a", has_text="calculate").first.get_attribute("href")
        assert "calculator/?" in first_link and "gpu=h200" in first_link
        page.fill("#va-gpu-search", "3060")
        page.wait_for_function("() => document.getElementById('va-gpu').value.includes('3060')")
        assert "3060" in page.locator("#va-picker-summary").inner_text()
        assert "gpu=rtx-3060" in page.url
        assert not v.errors and not v.foreign()
    finally:
        v.close()


def test_tables_sort_by_number_not_text(browser, server):
    v = Visit(browser, server)
    try:
        page = v.open("models/")
        head = page.locator("article table thead th").nth(2)  # parameters
        head.click()
        keys = page.eval_on_selector_all(
            "article table tbody tr td:nth-child(3) [data-sort]",
            "els => els.map(e => parseFloat(e.getAttribute('data-sort')))",
        )
        assert keys == sorted(keys) and len(keys) > 10
        texts = page.eval_on_selector_all(
            "article table tbody tr td:nth-child(3)", "els => els.map(e => e.textContent)"
        )
        assert texts[0].endswith("M") and texts[-1].endswith("B")  # 370 M before 671 B
        box = page.locator(".va-filter").first
        box.fill("llama 3.1")
        visible = page.eval_on_selector_all(
            "article table tbody tr", "rs => rs.filter(r => r.style.display !== 'none').length"
        )
        assert 1 <= visible < 8
    finally:
        v.close()


def test_hostile_names_render_as_text(browser, small_server):
    """A GPU named <script>alert(1)</script> and a model with [link](x) syntax show as text."""
    from test_site import HOSTILE_GPU, HOSTILE_MODEL

    v = Visit(browser, small_server)
    try:
        page = v.open("gpus/rtx-4090/")
        assert page.locator("h1").first.inner_text().rstrip("\u00b6") == HOSTILE_GPU
        assert page.title().startswith(HOSTILE_GPU)
        page = v.open("models/llama-3.1/llama-3.1-8b/")
        assert page.locator("h1").first.inner_text().rstrip("\u00b6") == HOSTILE_MODEL
        assert page.locator("article a[href='x']").count() == 0
        page = v.open("explorer/")
        options = page.locator("#va-ex-gpu option").all_text_contents()
        assert HOSTILE_GPU in options
        page = v.open("")
        assert HOSTILE_GPU in page.locator("#va-gpu option").all_text_contents()
        assert not [e for e in v.errors if "dialog" in e], v.errors
        assert not v.errors and not v.foreign()
    finally:
        v.close()
