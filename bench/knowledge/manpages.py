"""A labelled retrieval set built from real text that ships in Debian: the Linux man pages.

No labelled IR test collection ships in a PyPI or Debian package (BEIR, ir_datasets and MTEB
download their data at run time; Debian has none), so this builds one from the ``manpages``
and ``manpages-dev`` packages (sections 2, 3, 4, 5 and 7, about 2,000 pages):

* **document** = a page's DESCRIPTION section (its first 2,000 characters), ``source`` the
  page's file name;
* **query** = the one-line summary after the dash in the page's NAME line, written by the
  page's authors ("strtok, strtok_r - extract tokens from strings" gives the query
  "extract tokens from strings");
* **relevant** = that one page (binary relevance). Summaries shared by several pages are
  dropped, so every query has exactly one right answer.

The queries are human-written paraphrases rather than copied sentences, so keyword overlap
alone does not solve them. Roff markup is stripped with a few regular expressions: good
enough for retrieval text (this is benchmark code, not product code).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

SECTIONS = ("man2", "man3", "man4", "man5", "man7")
PACKAGES = ("manpages", "manpages-dev")
DOC_CHARS = 2000
INSTALL_HINT = "apt-get install manpages manpages-dev"

_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
_ESCAPES = {r"\-": "-", r"\(em": "-", r"\(en": "-", r"\(aq": "'", r"\(dq": '"', r"\e": "\\",
            r"\&": "", r"\~": " ", r"\%": "", r"\(bu": "*", r"\(lq": '"', r"\(rq": '"', r"\ ": " ",
            r"\(co": "(c)", r"\|": "", r"\^": "", r"\:": "", r"\(rs": "\\", r"\(ga": "`", r"\(ti": "~"}


@dataclass(frozen=True)
class Page:
    """One man page: file name, its NAME summary (the query) and DESCRIPTION text (the document)."""

    source: str
    summary: str
    text: str


def _plain(line: str) -> str:
    line = _FONT.sub("", line)
    for esc, rep in _ESCAPES.items():
        line = line.replace(esc, rep)
    return re.sub(r"\\\(..|\\\[[^\]]*\]|\\.", "", line)


def _macro_text(line: str) -> str:
    """The visible text of a font macro line (``.BR name (2)`` gives ``name(2)``)."""
    name, _, rest = line[1:].partition(" ")
    args = re.findall(r'"([^"]*)"|(\S+)', rest)
    words = [a or b for a, b in args]
    if name in ("BR", "RB", "IR", "RI", "BI", "IB"):
        return "".join(words)
    return " ".join(words)


def parse_page(raw: str) -> tuple[str, str] | None:
    """``(summary, description)`` of a page's roff source; None for aliases and odd pages."""
    if raw.lstrip().startswith(".so "):
        return None
    sections: dict[str, list[str]] = {}
    current = None
    for line in raw.splitlines():
        if line.startswith(('.\\"', "'\\\"", '.\\\\"')):
            continue
        if line.startswith(".SH"):
            current = line[3:].strip().strip('"').upper()
            sections.setdefault(current, [])
            continue
        if current is None:
            continue
        if line.startswith((".B", ".I", ".R", ".SM", ".SS")):
            sections[current].append(_plain(_macro_text(line)))
        elif line.startswith((".PP", ".LP", ".P", ".TP", ".IP", ".sp", ".br", ".in")):
            sections[current].append("\n")
        elif line.startswith(".") or line.startswith("'"):
            continue
        else:
            sections[current].append(_plain(line))
    name = " ".join(sections.get("NAME", [])).strip()
    if " - " not in name:
        return None
    summary = name.split(" - ", 1)[1].strip().lstrip("\\ ").strip()
    body = re.sub(r"[ \t]+", " ", " ".join(sections.get("DESCRIPTION", [])))
    body = re.sub(r"\s*\n\s*", "\n", body).strip()
    if len(summary) < 8 or len(body) < 80:
        return None
    return summary, body[:DOC_CHARS]


def package_files(packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    """The man pages the Debian packages installed (``dpkg -L``), so other packages' pages
    on the machine do not change the set."""
    import subprocess

    try:
        out = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"cannot list {', '.join(packages)}: {INSTALL_HINT}") from exc
    return sorted(Path(line) for line in out.splitlines()
                  if line.endswith(".gz") and Path(line).parent.name in SECTIONS)


def load() -> list[Page]:
    """Every usable page, sorted by file name; summaries shared by two pages are dropped."""
    pages: list[Page] = []
    for path in package_files():
        if True:
            if path.is_symlink() or not path.is_file():
                continue
            parsed = parse_page(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
            if parsed:
                pages.append(Page(path.name.removesuffix(".gz"), *parsed))
    counts: dict[str, int] = {}
    for p in pages:
        key = p.summary.lower()
        counts[key] = counts.get(key, 0) + 1
    unique = [p for p in pages if counts[p.summary.lower()] == 1]
    if not unique:
        raise SystemExit(f"no man pages found: {INSTALL_HINT}")
    return sorted(unique, key=lambda p: p.source)
