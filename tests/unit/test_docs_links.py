"""The README is a map: every page it points to exists, every relative link in the docs lands on
a file (and a heading, when it names one), and every page is reachable from the root README."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"```.*?```", re.S)


def _pages() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(ROOT / p for p in {*tracked, *untracked})


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _CODE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def _links(page: Path) -> list[str]:
    text = _CODE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


def test_every_relative_link_in_the_docs_lands_on_a_file_and_heading() -> None:
    # Given every Markdown page of the repository
    broken: list[str] = []
    for page in _pages():
        # When each relative link is followed from the page's folder
        for target in _links(page):
            path, _, anchor = target.partition("#")
            found = (page.parent / path).resolve() if path else page
            # Then it names a file that exists, and a heading of it when it names one
            if not found.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and found.suffix == ".md" and anchor not in _anchors(found):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_every_page_of_the_docs_is_reachable_from_the_root_readme() -> None:
    # Given the pages next to what they describe
    pages = {p for p in _pages() if p.name != "README.md" or p.parent != ROOT}
    pages = {p for p in pages if not p.is_relative_to(ROOT / "tests")}
    # When the root README's links are followed, one level down
    root = ROOT / "README.md"
    linked = {(root.parent / t.partition("#")[0]).resolve() for t in _links(root)}
    # Then each page is one of them
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked) == []
