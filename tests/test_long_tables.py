"""Long tables rendered outside Python-Markdown (vramatlas.site.long_tables, used by site/hooks.py).

The renderer must write exactly what Python-Markdown writes for these tables, so every table of the
site's generated pages (the full catalogue's, and the small catalogue's with hostile names) is rendered
both ways here and compared; a cell it does not know is an error, never a different table.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from vramatlas.paths import SITE_SRC_DIR
from vramatlas.site import long_tables as lt
from vramatlas.site import pages


@functools.cache
def site_markdown():
    """Python-Markdown configured with the site's markdown_extensions (site/mkdocs.yml)."""
    import markdown

    names, configs = [], {}
    for ext in yaml.safe_load((SITE_SRC_DIR / "mkdocs.yml").read_text(encoding="utf-8"))["markdown_extensions"]:
        name, config = next(iter(ext.items())) if isinstance(ext, dict) else (ext, None)
        names.append(name)
        if config:
            configs[name] = config
    return markdown.Markdown(extensions=names, extension_configs=configs)


def by_python_markdown(table: str) -> str:
    md = site_markdown()
    md.reset()
    return md.convert(table).replace("<table>", "<table data-search-exclude>", 1)


def same(url: str) -> str:
    return url


def assert_tables_as_markdown_renders_them(text: str, where: str) -> int:
    """Every pipe table in ``text``, whatever its length, rendered by table_html and by Python-Markdown."""
    lines = text.split("\n")
    n = 0
    for a, b in lt.table_spans(lines):
        ours = lt.table_html(lines[a:b], same)
        theirs = by_python_markdown("\n".join(lines[a:b]))
        assert ours == theirs, f"{where}: table at line {a + 1} renders differently"
        n += 1
    return n


# ------------------------------------------------------------------ the site's own tables


@pytest.fixture(scope="module")
def full_site_data(full_matrix):
    from vramatlas.catalog import load_catalog
    from vramatlas.tables import derived_tables

    catalog = load_catalog()
    return pages.SiteData(catalog=catalog, matrix=full_matrix, derived=derived_tables(full_matrix, catalog))


def test_every_kind_of_page_of_the_full_site_renders_as_markdown_does(full_site_data):
    d = full_site_data
    # one page of each kind that has long tables (three GPU and model pages: theirs differ only in numbers),
    # and every page with one table of its own
    sample = (
        [pages.home(d), pages.gpu_index(d), pages.model_index(d), pages.method_index(d), pages.methodology(d)]
        + [pages.gpu_page(d, g) for g in ("rtx-4090", "m3-ultra", "mi300x")]
        + [pages.variant_page(d, v) for v in ("llama-3.1-8b", "deepseek-v3.1", "gemma-3n-e4b")]
        + [pages.method_page(d, m) for m in d.method_ids]
        + [pages.downloads(d, None), pages.rules_of_thumb(d)]
    )
    tables = sum(assert_tables_as_markdown_renders_them(pg.text, pg.path) for pg in sample)
    tables += assert_tables_as_markdown_renders_them(pages.published_table_md(d.catalog), "published figures")
    contributing = (Path(__file__).resolve().parent.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    tables += assert_tables_as_markdown_renders_them(contributing, "CONTRIBUTING.md")
    for f in sorted((SITE_SRC_DIR / "docs").glob("*.md")):
        tables += assert_tables_as_markdown_renders_them(f.read_text(encoding="utf-8"), f.name)
    assert tables > 40
    long = 0
    for pg in sample:  # every long table of a generated page takes the fast path: none is left to Markdown
        spans = [(a, b) for a, b in lt.table_spans(pg.text.split("\n")) if b - a - 2 > lt.SEARCH_ROWS]
        assert len(lt.take_long_tables(pg.text, same)[1]) == len(spans), pg.path
        long += len(spans)
    assert long >= 8, "the sample should hold the long tables the hooks take out"


def test_hostile_names_render_as_markdown_does(tmp_path):
    from test_site import small_catalog

    from vramatlas.catalog import load_catalog
    from vramatlas.matrix import compute_matrix
    from vramatlas.tables import derived_tables

    catalog = load_catalog(small_catalog(tmp_path, hostile=True), cache=False)
    matrix = compute_matrix(catalog)
    d = pages.SiteData(catalog=catalog, matrix=matrix, derived=derived_tables(matrix, catalog))
    tables = sum(assert_tables_as_markdown_renders_them(pg.text, pg.path) for pg in pages.all_pages(d, None))
    assert tables > 20


# ------------------------------------------------------------------ the renderer


CELLS = [
    r"Q4\_K\_M",
    r"[Command R\+ 104B](../models/command-r/command-r-plus-104b.md)",
    '<span data-sort="1000000000">**no count**</span>',
    r"[32k](../calculator.md?model=a&method=b&amp;c=1)",
    r"`gpu_count` and `a <b> & c`",
    r"a \q b \\ c \& d &amp; e & f > g ] h",
    r"active_parameters cannot exceed parameters (0, 1]",
    r"+8.9% n/a 10^9 'G' a:b; c=d !",
    r"[Qwen README \(QwenLM/Qwen\), Profiling](https://github.com/QwenLM/Qwen/blob/main/README.md)",
    '<span class="va-yes">yes</span>',
    "",
]


@pytest.mark.parametrize("cell", CELLS)
def test_a_cell_renders_as_markdown_does(cell):
    table = f"| a |\n| --: |\n| {cell} |"
    assert lt.table_html(table.split("\n"), same) == by_python_markdown(table)


@pytest.mark.parametrize(
    "cell",
    ["*emphasis*", "_emphasis_", "[a reference][ref]", "[^1]", "![image](x.png)", "<div>x</div>", "<kind>", "{: .x}"],
)
def test_a_cell_it_does_not_know_is_an_error(cell):
    with pytest.raises(lt.UnsupportedCell, match="does not know"):
        lt.inline_html(cell, same)


def test_links_go_through_the_resolver():
    html = lt.inline_html(r"[x](../models/a.md?q=1&r=2)", lambda url: url.replace("../models/a.md", "../../models/a/"))
    assert html == '<a href="../../models/a/?q=1&amp;r=2">x</a>'


def test_rows_split_at_pipes_no_backslash_or_code_span_holds():
    assert lt.split_row(r"| a \| b | `c | d` | e |") == [r"a \| b", "`c | d`", "e"]
    assert lt.split_row("a | b") == ["a", "b"]


def long_table(rows: int, cell: str = "x") -> str:
    return "\n".join(["| a | b |", "| :-- | --: |"] + [f"| {i} | {cell} |" for i in range(rows)])


def test_only_tables_longer_than_search_rows_are_taken():
    short, long = long_table(lt.SEARCH_ROWS), long_table(lt.SEARCH_ROWS + 1)
    text = f"# t\n\n{short}\n\nprose\n\n{long}\n\nend\n"
    out, tables = lt.take_long_tables(text, same)
    assert len(tables) == 1 and short in out and long not in out
    assert lt.PLACEHOLDER.format(0) in out
    assert lt.put_back(f"<p>{lt.PLACEHOLDER.format(0)}</p>", tables) == f"<p>{tables[0]}</p>"


def test_tables_in_fenced_code_and_pages_with_abbreviations_stay_markdown():
    fenced = "```\n" + long_table(40) + "\n```\n"
    assert lt.take_long_tables(fenced, same) == (fenced, [])
    abbr = long_table(40) + "\n\n*[GPU]: graphics processing unit\n"
    assert lt.take_long_tables(abbr, same) == (abbr, [])


def test_a_table_glued_to_text_is_left_to_markdown():
    for text in ("prose\n" + long_table(40) + "\n", long_table(40) + "\nprose\n"):
        assert lt.take_long_tables(text, same) == (text, [])


def test_a_long_table_with_a_cell_it_does_not_know_stays_markdown():
    text = long_table(40, "*emphasis*") + "\n\n" + long_table(40) + "\n"
    out, tables = lt.take_long_tables(text, same)
    assert len(tables) == 1 and out.startswith(long_table(40, "*emphasis*"))


def test_a_table_without_its_place_is_an_error():
    with pytest.raises(ValueError, match="1 long tables taken out of the page, 0 placeholders"):
        lt.put_back("<p>nothing</p>", ["<table></table>"])


# ------------------------------------------------------------------ in the build


def test_the_built_site_has_every_long_table_in_place(full_build):
    site = Path(full_build.site)
    gpu = (site / "gpus" / "rtx-4090" / "index.html").read_text(encoding="utf-8")
    assert "vramatlas-long-table" not in gpu
    assert gpu.count("<table data-search-exclude>") >= 1
    assert 'href="../../models/llama-3.1/llama-3.1-8b/"' in gpu  # a Markdown link resolved as MkDocs does
    assert 'href="../../calculator/?model=' in gpu
    for page in site.rglob("*.html"):
        assert "vramatlas-long-table" not in page.read_text(encoding="utf-8"), page


def _mkdocs_site(tmp_path: Path, docs: dict[str, str]):
    from vramatlas.site.build import _config, _mkdocs_build

    src = tmp_path / "src"
    base = yaml.safe_load((SITE_SRC_DIR / "mkdocs.yml").read_text(encoding="utf-8"))
    base["theme"].pop("custom_dir", None)
    base.pop("extra_css", None), base.pop("extra_javascript", None)
    src.mkdir()
    (src / "mkdocs.yml").write_text(yaml.safe_dump(base), encoding="utf-8")
    for name, text in docs.items():
        (src / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "docs" / name).write_text(text, encoding="utf-8")
    config = _config(src, tmp_path, src / "docs", tmp_path / "site", list(docs))
    _mkdocs_build(config)
    return tmp_path / "site"


def test_a_long_table_linking_to_no_page_fails_the_strict_build(tmp_path):
    from vramatlas.site.build import BuildError

    docs = {"index.md": "# home\n\n" + long_table(40, "[x](missing.md)") + "\n", "b.md": "# b\n"}
    with pytest.raises(BuildError, match="missing.md"):
        _mkdocs_site(tmp_path, docs)


def test_a_long_table_renders_in_a_real_mkdocs_build(tmp_path):
    docs = {"index.md": "# home\n\n" + long_table(40, "[b](sub/b.md?x=1&y=2)") + "\n", "sub/b.md": "# b\n"}
    site = _mkdocs_site(tmp_path, docs)
    page = (site / "index.html").read_text(encoding="utf-8")
    assert page.count('<a href="sub/b/?x=1&amp;y=2">b</a>') == 40
    assert "vramatlas-long-table" not in page
