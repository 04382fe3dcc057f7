"""Every relative link in README.md and docs/*.md leads to a file that exists, and a link with an
anchor to a heading of that page (GitHub's heading ids)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _prose(text: str) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The ids of a Markdown page's headings (a repeated heading gets -1, -2... as on GitHub)."""
    seen: dict[str, int] = {}
    ids = set()
    for line in _prose(page.read_text()):
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            ids.add(base if n == 0 else f"{base}-{n}")
    return ids


def relative_links(page: Path) -> list[str]:
    return [t for line in _prose(page.read_text()) for t in LINK.findall(line)
            if not re.match(r"[a-z]+:", t)]


def test_slug_matches_github():
    assert slug("KServe (`--server kserve`)") == "kserve---server-kserve"
    assert slug("2. CPU- or IO-bound") == "2-cpu--or-io-bound"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with that id")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Top\n\n[ok](#top) [gone](missing.md) [bad](#nowhere)\n```\n[code](x.md)\n```\n")
    assert relative_links(page) == ["#top", "missing.md", "#nowhere"]
    assert anchors(page) == {"top"}
