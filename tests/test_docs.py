"""The documentation stays true: the API reference is complete and current, links resolve, and the
README's Python examples run.

Conventions (docs/README.md): a ```python block in README.md is run unless the line before its
fence is `<!-- docs-test: skip -->`.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api.md"
SKIP_MARKER = "<!-- docs-test: skip -->"
LINKED_PAGES = sorted([ROOT / "README.md", ROOT / "benchmarks" / "README.md", *(ROOT / "docs").glob("*.md")])


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_api_docs", ROOT / "tools" / "gen_api_docs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()


@pytest.fixture(scope="module")
def mods():
    return gen.collect()


# -- the API reference ---------------------------------------------------------------------------------
def test_every_public_name_has_a_docstring(mods):
    missing = gen.missing_docstrings(mods)
    assert not missing, (
        f"{len(missing)} public names have no docstring (a constant takes a string literal on the line "
        "after its assignment):\n  " + "\n  ".join(missing))


def test_every_public_name_has_an_entry_in_api_md(mods):
    headings = set(gen.markdown_headings(API.read_text(encoding="utf-8")))
    absent = []
    for m in mods:
        if m.name not in headings:
            absent.append(m.name)
        for e in m.entries:
            # a re-exported module is documented in its own section
            key = e.canonical if e.kind == "module" and e.canonical else e.qualname
            if key not in headings:
                absent.append(key)
    assert not absent, "not in docs/api.md (run python tools/gen_api_docs.py): " + ", ".join(absent)


def test_api_md_is_what_the_generator_writes_now(mods):
    assert API.exists(), "docs/api.md is missing: run python tools/gen_api_docs.py"
    current = API.read_text(encoding="utf-8")
    fresh = gen.render(mods)
    if current != fresh:
        old, new = current.splitlines(), fresh.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        pytest.fail("docs/api.md is out of date: run python tools/gen_api_docs.py "
                    f"(first difference at line {first + 1}: "
                    f"{old[first] if first < len(old) else '<end>'!r} -> {new[first] if first < len(new) else '<end>'!r})")


def test_signatures_are_readable_and_stable():
    sentinel = object()

    def f(x: "Optional[Tensor]", *args: int, key=sentinel, dtype=float, **kw) -> "Tensor":
        pass

    text = gen.format_signature("f", f)
    assert text == "f(x: Optional[Tensor], *args: int, key=<object object>, dtype=float, **kw) -> Tensor"
    long = gen.format_signature("g", lambda a_long_name=1, another_long_name=2, a_third_long_name=3,
                                       and_a_fourth_one=4, *, the_fifth=5: None)
    assert long.splitlines() == ["g(", "    a_long_name=1,", "    another_long_name=2,", "    a_third_long_name=3,",
                                 "    and_a_fourth_one=4,", "    *,", "    the_fifth=5,", ")"]


def test_markdown_helpers_match_github():
    slugger = gen.Slugger()
    assert [slugger.slug(gen.heading_text(h)) for h in (
        "## 3. Softmax and cross-entropy: the gradient is p - y", "### `tinygrad_sm.nn.Linear`",
        "## Set-up (a fresh machine with Python >= 3.10)", "## Example", "## Example")] == [
        "3-softmax-and-cross-entropy-the-gradient-is-p---y", "tinygrad_smnnlinear",
        "set-up-a-fresh-machine-with-python--310", "example", "example-1"]
    assert gen.markdown_headings("# A\n```bash\n# a comment\n```\n## B\n") == ["A", "B"]
    assert gen._escape("x *gates* y: 2*x, `a_b*` and a_b <T>") == r"x *gates* y: 2\*x, `a_b*` and a\_b \<T\>"


def test_api_md_has_nothing_machine_specific():
    text = API.read_text(encoding="utf-8")
    for needle in (" at 0x", str(ROOT), os.path.expanduser("~") + "/"):
        assert needle not in text, f"docs/api.md contains {needle!r}"


# -- links -------------------------------------------------------------------------------------------
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    out, fence = [], None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        if fence is None:
            out.append(re.sub(r"(`+).*?\1", "", line))
    return "\n".join(out)


def _links(text: str) -> list[str]:
    prose = _prose(text)
    found = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)   # [x](target), ![x](src)
    found += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", prose, flags=re.M)     # [x]: target
    found += re.findall(r"<(?:img|a|source)\b[^>]*?\b(?:src|href|srcset)=\"([^\"]+)\"", prose)  # HTML
    return found


@functools.lru_cache(maxsize=None)
def _anchors_of(path: Path) -> frozenset[str]:
    return frozenset(gen.anchors(path.read_text(encoding="utf-8")))


def _broken_links(page: Path) -> list[str]:
    broken = []
    for target in _links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-zA-Z][\w+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors_of(dest):
            broken.append(f"{target} (no heading with anchor #{fragment})")
    return broken


def test_link_checker_sees_links_and_breaks(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading: with `code`\n\n## A heading: with code\n")
    page.write_text("[ok](there.md#a-heading-with-code-1) ![img](missing.png) [bad](there.md#nope)\n"
                    "`[in code](gone.md)`\n```\n[in a block](gone.md)\n```\n[ref]: elsewhere.md\n"
                    '<img src="pic.svg"> [web](https://example.org/x.md)\n')
    assert _broken_links(page) == ["missing.png (no such file)", "there.md#nope (no heading with anchor #nope)",
                                   "elsewhere.md (no such file)", "pic.svg (no such file)"]


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    broken = _broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}: broken links: " + "; ".join(broken)


# -- the README's examples -----------------------------------------------------------------------------
def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line number, code, skipped) of every ```python block; skipped when the last non-blank line
    before the fence is the skip marker."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(\s*)(`{3,})\s*python\s*$", lines[i])
        if not m:
            i += 1
            continue
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        indent, fence, start = len(m.group(1)), m.group(2), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        blocks.append((start + 1, "\n".join(body) + "\n", before == SKIP_MARKER))
        i += 1
    return blocks


README_BLOCKS = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_python_blocks_are_found():
    text = f"a\n```python\nx = 1\n```\n{SKIP_MARKER}\n\n```python\nraise SystemExit(1)\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n", False), (7, "raise SystemExit(1)\n", True)]
    assert README_BLOCKS, "README.md has no ```python block"


@pytest.mark.parametrize("line, code, skipped", README_BLOCKS, ids=[f"README.md:{b[0]}" for b in README_BLOCKS])
def test_readme_python_block_runs(line, code, skipped, tmp_path):
    if skipped:
        pytest.skip(f"README.md:{line} is marked {SKIP_MARKER}")
    env = dict(os.environ, TINYGRAD_SM_BACKEND="numpy", PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"README.md:{line}: the example fails:\n{code}\n{proc.stderr[-3000:]}"
