"""The site build: escaping, page and site weights, strict MkDocs, offline assets, the CLI.

`small_catalog` copies a few GPUs, two model families and every method into a
temporary catalogue (optionally with hostile names), so a whole build takes
seconds; `test_browser.py` uses it too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from vramatlas.paths import CATALOG_DIR, SITE_SRC_DIR
from vramatlas.site import pages
from vramatlas.site.build import MAX_PAGE_BYTES, MAX_SITE_BYTES, build_site, default_stages, measure_site

HOSTILE_GPU = "<script>alert(1)</script>"
HOSTILE_MODEL = "Llama [link](x) *8B* | `tick`"
# what the rules of thumb name, and a unified-memory card
SMALL_GPUS = ("rtx-4090", "rtx-3090", "rtx-5090", "rtx-a4000", "rtx-3060-12gb", "h200", "m4-max")
SMALL_FAMILIES = ("llama-2", "llama-3.1", "qwen2.5", "nemotron-4", "bitnet-b1.58", "matmul-free-lm")


def small_catalog(root: Path, hostile: bool = False) -> Path:
    """A catalogue of a few GPUs and two families (and the measurements that refer only to them)."""
    cat = root / "catalog"
    for kind in ("gpus", "models", "methods", "measurements"):
        (cat / kind).mkdir(parents=True, exist_ok=True)
    for gid in SMALL_GPUS:
        data = yaml.safe_load((CATALOG_DIR / "gpus" / f"{gid}.yaml").read_text())
        if hostile and gid == "rtx-4090":
            data["name"] = HOSTILE_GPU
            data["sources"][0]["url"] = "javascript:alert(2)"
        (cat / "gpus" / f"{gid}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    variants = set()
    for fid in SMALL_FAMILIES:
        data = yaml.safe_load((CATALOG_DIR / "models" / f"{fid}.yaml").read_text())
        if hostile and fid == "llama-3.1":
            data["variants"][0]["name"] = HOSTILE_MODEL
            data["name"] = "Llama <b>3.1</b>"
        variants |= {v["id"] for v in data["variants"]}
        (cat / "models" / f"{fid}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for kind in ("methods", "runtimes", "quants"):  # what the models run in, as in the real catalogue
        (cat / kind).mkdir(exist_ok=True)
        for f in (CATALOG_DIR / kind).glob("*.yaml"):
            (cat / kind / f.name).write_bytes(f.read_bytes())
    for f in (CATALOG_DIR / "measurements").glob("*.yaml"):
        m = yaml.safe_load(f.read_text())
        if isinstance(m, dict) and m.get("model") in variants and m.get("gpu") in SMALL_GPUS and not m.get("config"):
            (cat / "measurements" / f.name).write_bytes(f.read_bytes())
    return cat


def small_stages():
    """The real stages, but rules of thumb as a two-row frame: the real claims name models
    the small catalogue leaves out (the full build in test_browser runs them)."""
    import pandas as pd

    stages = default_stages()
    stages.rules_of_thumb = lambda catalog: pd.DataFrame(
        {
            "claim": ["A 7B needs 14 GB at 16 bit", "<i>markup</i> in a claim"],
            "setting": ["2k, batch 1", "x"],
            "claimed": ["14 GB", "1"],
            "computed": ["14.6 GB", "2"],
            "verdict": ["holds", "breaks"],
            "explanation": ["weights 13.5 GB", "[link](x)"],
        }
    )
    return stages


def build_small(root: Path, hostile: bool = False):
    cat = small_catalog(root, hostile=hostile)
    return build_site(root / "dist", catalog_dir=cat, stages=small_stages())


@pytest.fixture(scope="module")
def hostile_build(hostile_site):
    return hostile_site  # built once per test run (tests/conftest.py), shared with the browser tests


# ------------------------------------------------------------------ escaping


def test_esc_makes_markdown_text():
    assert pages.esc("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    assert pages.esc("[link](x)") == "\\[link\\]\\(x\\)"
    assert pages.esc("a|b") == "a\\|b"
    assert pages.esc("*bold* _it_ `code`") == "\\*bold\\* \\_it\\_ \\`code\\`"
    assert pages.esc("two\nlines") == "two lines"


def test_ids_in_code_spans_show_as_they_are(hostile_build):
    import markdown

    assert markdown.markdown(pages.code("peak_bytes")) == "<p><code>peak_bytes</code></p>"
    assert markdown.markdown(pages.code("<b>&")) == "<p><code>&lt;b&gt;&amp;</code></p>"
    with pytest.raises(ValueError, match="backtick"):
        pages.code("a`b")
    downloads = (Path(hostile_build.site) / "downloads" / "index.html").read_text(encoding="utf-8")
    assert "<code>peak_bytes</code>" in downloads and "\\_" not in downloads  # it showed peak\_bytes


def test_script_json_cannot_close_the_script():
    text = pages.script_json({"name": "</script><script>alert(1)</script>", "amp": "a&b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_only_http_urls_become_links():
    assert pages.link_url("javascript:alert(1)") is None
    assert pages.link_url("data:text/html,x") is None
    assert pages.link_url("https://example.com/a (b)") is None  # a space: not a plain URL
    assert pages.link_url("https://example.com/a_(b)") == "https://example.com/a_%28b%29"
    assert pages.md_link("x", "javascript:alert(1)") == "x"


def test_numbers():
    assert pages.k(8192) == "8k" and pages.k(131072) == "128k" and pages.k(1536) == "1.5k"
    assert pages.k(40000) == "40,000"
    assert pages.gib(16 * 2**30) == "16.0"
    assert pages.gib_text(2**29, 2) == "0.50 GiB"
    assert pages.params_text(8_030_261_248) == "8.0 B"
    assert pages.params_text(370_000_000) == "370 M"
    assert pages.params_text(999_885_952) == "1.0 B"  # Gemma 3 1B: not "1,000 M"
    assert pages.params_text(999_400_000) == "999 M"


def test_md_table_shape():
    text = pages.md_table(["a", "b"], [["1", "2"], ["3", "4"]])
    assert text.splitlines() == ["| a | b |", "| :-- | --: |", "| 1 | 2 |", "| 3 | 4 |"]


def _html(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): p.read_text(encoding="utf-8") for p in site.rglob("*.html")}


def test_hostile_names_show_as_text(hostile_build):
    html = _html(hostile_build.site)
    gpu_page = html["gpus/rtx-4090/index.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in gpu_page
    for path, text in html.items():
        assert "<script>alert(1)" not in text, path
        assert "alert(2)" not in text or 'href="javascript:' not in text, path
        assert 'href="x"' not in text, path
        assert "<b>3.1</b>" not in text, path
    variant = html["models/llama-3.1/llama-3.1-8b/index.html"]
    assert "[link](x)" in variant  # the brackets survive as text
    assert "<em>8B</em>" not in variant


def test_hostile_names_in_chart_data_are_data(hostile_build):
    gpus = json.loads((hostile_build.site / "data" / "gpus.json").read_text())
    assert HOSTILE_GPU in {g["name"] for g in gpus}
    for path, text in _html(hostile_build.site).items():
        for spec in re.findall(r'<script type="application/json">(.*?)</script>', text, re.S):
            json.loads(spec)  # every embedded spec parses: nothing closed the script early


# ------------------------------------------------------------------ the build


def test_strict_build_weights_and_offline_assets(hostile_build):
    r = hostile_build
    assert (r.site / "index.html").is_file()
    pages_n, heaviest, heaviest_bytes, total = measure_site(r.site)
    assert pages_n == r.pages > 10
    assert heaviest_bytes <= MAX_PAGE_BYTES
    assert total <= MAX_SITE_BYTES
    for path, text in _html(r.site).items():
        # every script and stylesheet is the site's own
        loaded = re.findall(r'<script[^>]+src="([^"]+)"', text) + re.findall(r'<img[^>]+src="([^"]+)"', text)
        for tag in re.findall(r"<link[^>]+>", text):
            rel_ = re.search(r'rel="([^"]+)"', tag)
            if rel_ and rel_.group(1) in ("canonical", "alternate"):
                continue  # an address, not a fetch
            loaded += re.findall(r'href="([^"]+)"', tag)
        for url in loaded:
            assert not re.match(r"^(https?:)?//", url), f"{path} loads {url}"
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text
        assert "api.github.com" not in text
    js = r.site / "assets" / "js"
    for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "charts.js", "tables.js"):
        assert (js / name).is_file(), name


def test_pages_cover_the_catalogue(hostile_build):
    site = hostile_build.site
    for gid in SMALL_GPUS:
        assert (site / "gpus" / gid / "index.html").is_file()
    for fid in SMALL_FAMILIES:
        assert (site / "models" / fid / "index.html").is_file()
    for f in (CATALOG_DIR / "methods").glob("*.yaml"):
        assert (site / "methods" / f.stem / "index.html").is_file()
    for name in ("explorer", "methodology", "rules-of-thumb", "downloads", "contributing"):
        assert (site / name / "index.html").is_file(), name


def _scripts(text: str) -> list:
    return [json.loads(x) for x in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', text, re.S)]


RAW_TABLE = re.compile(r"^\|[^\n]*\|\s*$\n^\|\s*:?-{2,}", re.M)  # a Markdown table left as text


def raw_markdown_tables(text: str) -> list[str]:
    """Markdown tables a page shows as text (a template line that ate the blank line before one)."""
    article = text[text.find("<article") :]
    return [m.group(0)[:80] for m in RAW_TABLE.finditer(article)]


def test_every_table_is_rendered(hostile_build):
    """No page shows a Markdown table as text."""
    assert raw_markdown_tables("<article>\n| a | b |\n| :-- | --: |\n") and not raw_markdown_tables("<p>a | b</p>")
    for path, text in _html(hostile_build.site).items():
        assert not raw_markdown_tables(text), (path, raw_markdown_tables(text)[:2])


def test_templates_keep_the_blank_line_after_an_inline_block():
    """trim_blocks eats the newline after a block tag: on a line of text ending in ``{% endif %}`` that
    is the line break, and the blank line after it goes, gluing the next table or heading to the text
    (the GPU pages' tables showed as pipes when a runtime note was there). Such a tag ends ``+%}``."""
    from vramatlas.site.render import TEMPLATES

    glued = []
    for path in sorted(TEMPLATES.glob("*.j2")):
        lines = path.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines[:-1]):
            tag = re.search(r"\{%-?[^%]*%\}$", line)
            if tag and line[: tag.start()].strip() and not lines[i + 1].strip() and not tag.group(0).endswith("+%}"):
                glued.append(f"{path.name}:{i + 1}")
    assert not glued, glued


def test_explorer_data_by_url_not_inline(hostile_build):
    text = (hostile_build.site / "explorer" / "index.html").read_text()
    meta, spec = _scripts(text)[:2]
    assert meta["curves"] == "data/curves.json" and meta["gpus"] == "data/gpus.json"
    assert '"values"' not in json.dumps(spec)
    assert {d["name"] for d in spec["datasets"]} if "datasets" in spec else True
    assert 'name="gpu"' in text and 'name="method"' in text and 'name="seq-len"' in text and 'name="batch"' in text
    rows = json.loads((hostile_build.site / "data" / "curves.json").read_text())
    assert rows and set(rows[0]) == {"i", "m", "t", "s", "b", "n"}


def test_calculator_ships_the_package_the_catalogue_and_a_form_from_the_cli(hostile_build):
    import zipfile

    from vramatlas.compiled import load_compiled
    from vramatlas.site.calculator import CATALOGUE_FILE, PACKAGE_FILE, estimate_options

    site = hostile_build.site
    text = (site / "calculator" / "index.html").read_text()
    for o in estimate_options():  # every option of `vramatlas estimate`, named like it
        assert f'name="{o["name"]}"' in text, o["name"]
    meta = next(x for x in _scripts(text) if isinstance(x, dict) and "options" in x)
    assert meta["package"] == PACKAGE_FILE and meta["catalogue"] == CATALOGUE_FILE
    names = zipfile.ZipFile(site / PACKAGE_FILE).namelist()
    assert "vramatlas/cli.py" in names and "vramatlas/memory.py" in names
    # every file the package holds besides the builder (data such as arch's defaults changes the numbers)
    from vramatlas.site.calculator import PACKAGE_DIR

    for f in PACKAGE_DIR.rglob("*.json"):
        rel = f.relative_to(PACKAGE_DIR)
        if rel.parts[0] not in ("site", "measure", "_data"):
            assert f"vramatlas/{rel.as_posix()}" in names, rel
    assert not [n for n in names if n.startswith(("vramatlas/site/", "vramatlas/measure/"))]
    catalog = load_compiled(site / CATALOGUE_FILE)
    assert "rtx-4090" in catalog.gpus and "llama-3.1-8b" in catalog.variants
    for f in ("pyodide.js", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"):
        assert (site / "assets" / "pyodide" / f).is_file(), f
    # only the calculator loads the runtime
    for path, page in _html(site).items():
        if not path.startswith("calculator/"):
            assert "calculator.js" not in page and "pyodide" not in page.lower().split("</head>")[0], path


def test_calculator_assets_are_byte_identical_across_builds(tmp_path):
    from vramatlas.catalog import load_catalog
    from vramatlas.site.calculator import compiled_catalogue, package_zip

    assert package_zip() == package_zip()
    cat = load_catalog(small_catalog(tmp_path))
    assert compiled_catalogue(cat) == compiled_catalogue(cat)


def test_estimate_options_follow_the_parser():
    import argparse

    from vramatlas.site.calculator import estimate_options

    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--ctx", type=int, default=None)
    parser.add_argument("--kv-dtype", choices=("f16", "q8_0"))
    parser.add_argument("--cpu-moe", action="store_true")
    parser.add_argument("--host-bandwidth", type=float)
    parser.add_argument("--json", action="store_true")
    got = {o["name"]: o for o in estimate_options(parser)}
    assert set(got) == {"model", "ctx", "kv-dtype", "cpu-moe", "host-bandwidth"}  # --json is the page's own
    assert got["ctx"]["kind"] == "int" and got["ctx"]["slider"] and got["ctx"]["group"] == "Model and workload"
    assert got["kv-dtype"]["kind"] == "choice" and got["kv-dtype"]["choices"] == ["f16", "q8_0"]
    assert got["cpu-moe"]["kind"] == "flag" and got["host-bandwidth"]["kind"] == "float"
    assert got["host-bandwidth"]["group"] == "Runtime"


def test_picker_data_covers_every_gpu_and_model(hostile_build):
    data = json.loads((hostile_build.site / "data" / "picker.json").read_text())
    assert set(data["rows"]) == set(data["gpus"])
    for rows in data["rows"].values():
        assert {r[0] for r in rows} == set(data["models"])
        for model, method, longest, peak, cards, *_ in rows:
            if method >= 0:  # runs on one card: a format, a context, a peak within the card
                assert longest > 0 and peak is not None and cards == 1
            else:
                assert peak is None


def test_notfound_page_uses_relative_paths(hostile_build):
    text = (hostile_build.site / "404.html").read_text()
    assert 'href="/vramatlas/' not in text and 'src="/vramatlas/' not in text
    assert "assets/css/vramatlas.css" in text and "createElement('base')" in text


def test_downloads_list_only_what_the_site_ships(hostile_build):
    text = (hostile_build.site / "downloads" / "index.html").read_text()
    for href in re.findall(r'href="(\.\./tables/[^"]+)"', text):
        assert (hostile_build.site / "downloads" / href).resolve().is_file(), href


def test_methodology_reads_as_prose(hostile_build):
    text = (hostile_build.site / "methodology" / "index.html").read_text()
    assert "``" not in text and ":func:" not in text and ":mod:" not in text
    assert "generated from the docstrings" not in text and "How to write a term" not in text


def test_training_pages_state_their_assumptions(hostile_build):
    for mid in ("qlora", "full-mixed"):
        text = (hostile_build.site / "methods" / mid / "index.html").read_text()
        assert "Assumptions" in text and "not chunked" in text, mid


def test_largest_model_counts_only_released_checkpoints(hostile_build):
    text = (hostile_build.site / "index.html").read_text()
    largest = text.split("The largest model each card runs", 1)[1]
    assert "paper size point" not in largest.split("</table>", 1)[0]


def test_every_chart_has_a_table_beside_it(hostile_build):
    for path, text in _html(hostile_build.site).items():
        if "vega-chart" in text:
            assert "<table" in text, path


def test_downloads_listed_with_sizes(hostile_build):
    text = (hostile_build.site / "downloads" / "index.html").read_text()
    assert "datapackage.json" in text
    package = json.loads((hostile_build.site / "tables" / "datapackage.json").read_text())
    for res in package["resources"]:
        assert (hostile_build.site / "tables" / res["path"]).is_file(), res["path"]
    assert re.search(r"\d KiB|\d MiB", text)


def test_sources_untouched(hostile_build):
    # the build writes nothing into the site sources
    assert not (SITE_SRC_DIR / "generated").exists() or not any((SITE_SRC_DIR / "generated").iterdir())
    overrides = SITE_SRC_DIR / "overrides"  # theme partials (the named search dialog), not built pages
    assert not [p for p in SITE_SRC_DIR.rglob("*.html") if overrides not in p.parents]


def test_cli_build_reports(tmp_path, capsys, monkeypatch):
    from vramatlas.cli import main
    from vramatlas.site import build

    cat = small_catalog(tmp_path)
    monkeypatch.setattr(build, "default_stages", small_stages)
    status = main(["build", "--out", str(tmp_path / "out"), "--catalog", str(cat), "--quiet"])
    out = capsys.readouterr().out
    assert status == 0
    for word in ("pages:", "site size:", "heaviest page:", "build time:"):
        assert word in out
    assert (tmp_path / "out" / "site" / "index.html").is_file()
    assert (tmp_path / "out" / "tables" / "datapackage.json").is_file()


def test_cli_build_bad_catalogue_is_one_line(tmp_path, capsys):
    from vramatlas.cli import main

    status = main(["build", "--out", str(tmp_path / "out"), "--catalog", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_mkdocs_config_is_offline():
    cfg = yaml.safe_load((SITE_SRC_DIR / "mkdocs.yml").read_text())
    assert cfg["theme"]["font"] is False
    assert "repo_url" not in cfg  # material would fetch the repository's stars from api.github.com
    assert not any(str(x).startswith(("http:", "https:", "//")) for x in cfg.get("extra_javascript", []))
    assert not any(str(x).startswith(("http:", "https:", "//")) for x in cfg.get("extra_css", []))


def test_pages_workflow_deploys_on_main():
    wf = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "pages.yml"
    data = yaml.safe_load(wf.read_text())
    on = data.get("on", data.get(True))
    assert "main" in on["push"]["branches"]
    text = wf.read_text()
    assert "vramatlas build" in text and "deploy-pages" in text


def test_calculator_links_are_cases_the_cli_accepts(hostile_build, capsys):
    """Every number a page links into the calculator is a case `vramatlas estimate` answers."""
    from html import unescape
    from urllib.parse import parse_qsl, urlsplit

    from vramatlas.cli import main
    from vramatlas.site.calculator import estimate_options

    kinds = {o["name"]: o["kind"] for o in estimate_options()}
    links = set()
    for page in ("gpus/rtx-4090/index.html", "models/llama-3.1/llama-3.1-8b/index.html", "methods/qlora/index.html"):
        text = (hostile_build.site / page).read_text()
        links |= {unescape(h) for h in re.findall(r'href="([^"]*calculator/\?[^"]*)"', text)}
    assert len(links) > 20
    for link in sorted(links)[::3]:
        argv = []
        for name, value in parse_qsl(urlsplit(link).query):
            assert name in kinds, name  # the link names real options
            argv += [f"--{name}"] if kinds[name] == "flag" else [f"--{name}", value]
        if "--model" not in argv:
            continue
        assert main(["estimate", *argv, "--json"]) == 0, (link, capsys.readouterr().err)
        json.loads(capsys.readouterr().out)


def test_theme_files_no_page_loads_are_not_shipped(hostile_build):
    """No source maps, no search languages the index does not use; what the pages reference is there."""
    from vramatlas.site.prune import LUNR_DIR, THEME_DIRS, search_languages

    site = hostile_build.site
    assert not list(site.rglob("*.map"))
    for folder in THEME_DIRS:
        for path in (site / folder).rglob("*.*s"):
            assert b"sourceMappingURL=" not in path.read_bytes()[-300:], path
    assert search_languages(site) == ["en"] and not (site / LUNR_DIR).exists()
    assert (site / "search" / "search_index.json").is_file()
    assert len(list((site / "assets" / "javascripts" / "workers").glob("search.*.min.js"))) == 1


def test_lunr_files_follow_the_worker():
    """The files the theme's search worker imports per language, as its own code names them."""
    import material

    from vramatlas.site.prune import SEGMENTERS, lunr_files_needed

    worker = next((Path(material.__file__).parent / "templates" / "assets" / "javascripts" / "workers").glob("*.js"))
    code = worker.read_text(encoding="utf-8")
    for lang, name in SEGMENTERS.items():
        assert f'case"{lang}"' in code and name in code, (lang, name)
    assert "lunr.multi.min.js" in code and "lunr.stemmer.support.min.js" in code and 'n!=="en"' in code
    assert lunr_files_needed(["en"]) == set()
    assert lunr_files_needed(["en", "ja"]) == {
        "tinyseg.js",
        "min/lunr.ja.min.js",
        "min/lunr.multi.min.js",
        "min/lunr.stemmer.support.min.js",
    }
    assert lunr_files_needed(["de"]) == {"min/lunr.de.min.js", "min/lunr.stemmer.support.min.js"}


def test_long_tables_stay_out_of_the_search_index():
    from vramatlas.site.hooks import SEARCH_ROWS, exclude_long_tables

    def table(n):
        return "<table><thead><tr><th>a</th></tr></thead><tbody>" + "<tr><td>1</td></tr>" * n + "</tbody></table>"

    short, long = table(SEARCH_ROWS), table(SEARCH_ROWS + 1)
    assert exclude_long_tables(short) == short
    marked = exclude_long_tables(f"<p>x</p>{long}{short}")
    assert marked == f"<p>x</p>{long.replace('<table>', '<table data-search-exclude>')}{short}"
    assert exclude_long_tables(marked) == marked


def test_whitespace_between_tags_is_one_line_break_outside_pre_and_code():
    from vramatlas.site.hooks import collapse_whitespace

    page = (
        "<ul>\n    <li>\n      <a href='x'>\n        a\n      </a>\n    </li>  \n\n  </ul>"
        "<pre><code>keep\n    this\n</code></pre><p>x <code>a\n   b</code>\n  y</p>"
        "<textarea>\n  raw\n</textarea><script type='application/json'>{\n  \"a\": 1\n}</script><p>one  two</p>"
    )
    out = collapse_whitespace(page)
    assert out == (
        "<ul>\n<li>\n<a href='x'>\na\n</a>\n</li>\n</ul>"
        "<pre><code>keep\n    this\n</code></pre><p>x <code>a\n   b</code>\ny</p>"
        "<textarea>\n  raw\n</textarea><script type='application/json'>{\n  \"a\": 1\n}</script><p>one  two</p>"
    )
    assert collapse_whitespace(out) == out


def test_built_pages_carry_no_indentation(hostile_build):
    text = (hostile_build.site / "gpus" / "rtx-4090" / "index.html").read_text(encoding="utf-8")
    outside = re.sub(r"<(pre|code|kbd|textarea|script|style)\b.*?</\1\s*>", "<kept/>", text, flags=re.S)
    assert "\n " not in outside and "\n\n" not in outside
