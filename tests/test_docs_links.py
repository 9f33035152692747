"""Every relative link in README.md and docs/*.md resolves: the file exists, and so does the
heading an `#anchor` names. A `.md` file named in backticks counts as a link too."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HTML_TARGET = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*?\b(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
MD_IN_CODE = re.compile(r"[\w./-]+\.md(?:#[\w-]+)?")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def without_code_blocks(text: str) -> str:
    """The page with fenced code blocks blanked (their links are examples, not links)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped,
    spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    kept = (c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return "".join(kept).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The `#anchors` a page has: its headings' slugs (repeats numbered as GitHub does) and
    any HTML `name` or `id`."""
    text = without_code_blocks(page.read_text(encoding="utf-8"))
    found: set[str] = set(HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def targets(page: Path) -> list[str]:
    """Every relative link target written on a page, and every `.md` file named in code."""
    text = without_code_blocks(page.read_text(encoding="utf-8"))
    named = [m for span in CODE_SPAN.findall(text) for m in MD_IN_CODE.findall(span[1])]
    prose = CODE_SPAN.sub("", text)
    written = LINK.findall(prose) + REFERENCE.findall(prose) + HTML_TARGET.findall(prose)
    return [t for t in written + named if not EXTERNAL.match(t)]


def broken(page: Path, target: str) -> str:
    """Why `target`, written on `page`, does not resolve, or ""."""
    path, _, anchor = target.partition("#")
    if not path:
        where = page
    else:
        candidates = [page.parent / path, ROOT / path]  # code names paths from the repo root
        where = next((c for c in candidates if c.exists()), candidates[0])
        if not where.exists():
            return f"no file {path}"
    if anchor and where.suffix == ".md" and anchor not in anchors(where):
        return f"no heading #{anchor} in {where.name}"
    return ""


@pytest.mark.parametrize(
    "page", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in PAGES]
)
def test_every_relative_link_resolves(page: Path) -> None:
    """Each relative link on the page names a file that exists, and a heading that exists."""
    problems = [f"{target}: {why}" for target in targets(page) if (why := broken(page, target))]
    assert problems == []


SLUGS = [
    pytest.param("What `ivr check` verifies", "what-ivr-check-verifies", id="code"),
    pytest.param("Limits and overflow", "limits-and-overflow", id="words"),
    pytest.param("Keep-my-place (callbacks)", "keep-my-place-callbacks", id="punctuation"),
    pytest.param("`callbacks.texts`", "callbackstexts", id="dot"),
    pytest.param("ภาษาไทย menu", "ภาษาไทย-menu", id="thai"),
]


@pytest.mark.parametrize(("heading", "expected"), SLUGS)
def test_slug_matches_github(heading: str, expected: str) -> None:
    """Headings turn into anchors the way GitHub renders them."""
    assert slug(heading) == expected


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    """The checker itself reports a missing file, a missing heading and a `.md` in code."""
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n\n[a](nowhere.md) [b](#top) [c](#bottom) see `docs/none.md`\n\n"
        "```\n[in code](ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert targets(page) == ["nowhere.md", "#top", "#bottom", "docs/none.md"]
    assert [t for t in targets(page) if broken(page, t)] == [
        "nowhere.md",
        "#bottom",
        "docs/none.md",
    ]


SETTING = re.compile(r"cfg\(\s*\"([A-Z0-9_]+)\"")


def test_every_setting_is_documented() -> None:
    """Each environment variable the service reads is named in README.md or docs/."""
    source = (ROOT / "ivr" / "core" / "settings.py").read_text(encoding="utf-8")
    docs = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    names = SETTING.findall(source)
    assert "IVR_LOG_JSON" in names
    assert [name for name in names if name not in docs] == []
