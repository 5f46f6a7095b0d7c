"""Documents in, plain text with its structure out: sections (heading path, page) with offsets.

Parsers are well-kept libraries: pypdf (PDF), BeautifulSoup (HTML), python-docx (Word),
markdown-it-py (Markdown headings). Everything becomes one text string; sections point into it
by character offsets, so a chunk's citation (``char_start``/``char_end``) points into the same
text the user can get back. Bad input raises before anything is stored:
:class:`~nexod.errors.UnsupportedType` (415) or :class:`~nexod.errors.InvalidInput` (422).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from nexod.errors import InvalidInput, UnsupportedType

Kind = Literal["text", "markdown", "html", "pdf", "docx"]

EXTENSIONS: dict[str, Kind] = {
    ".txt": "text", ".text": "text", ".log": "text", ".csv": "text", ".rst": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".pdf": "pdf", ".docx": "docx",
}
MEDIA_TYPES: dict[str, Kind] = {
    "text/plain": "text", "text/csv": "text", "text/markdown": "markdown", "text/x-markdown": "markdown",
    "text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
CONTENT_TYPES: dict[Kind, str] = {
    "text": "text/plain", "markdown": "text/markdown", "html": "text/html", "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
SUPPORTED = ", ".join(sorted(EXTENSIONS))


@dataclass(frozen=True)
class Section:
    """A span of the text under one heading path (and on one page, for PDFs)."""

    start: int
    end: int
    heading: str | None = None
    page: int | None = None


@dataclass
class Parsed:
    """A parsed document: its text, its sections (covering the text in order) and its title."""

    text: str
    kind: Kind
    sections: list[Section] = field(default_factory=list)
    title: str | None = None


def detect(filename: str | None, content_type: str | None) -> Kind:
    """The document kind from the media type, else the file extension; 415 when neither is known."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in MEDIA_TYPES:
        return MEDIA_TYPES[media]
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    what = f"content type {media!r}" if media and media != "application/octet-stream" else \
        f"file {filename!r}" if filename else "document without a file name or content type"
    raise UnsupportedType(f"unsupported {what}: send one of {SUPPORTED} (or text/plain, text/markdown, "
                          "text/html, application/pdf)", field="file")


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM allowed) or UTF-16 with a BOM; anything else is refused as binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in data:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    raise InvalidInput("the document is not text (binary data, or an encoding other than UTF-8): "
                       "send UTF-8 text, or a PDF / DOCX with its file name or content type", field="file")


def _markdown(text: str, kind: Kind = "markdown") -> Parsed:
    """Sections from Markdown headings (markdown-it knows which `#` lines are inside code)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    heads: list[tuple[int, int, str]] = []  # (offset, level, title)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map is not None:
            title = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            heads.append((line_starts[tok.map[0]], int(tok.tag[1]), title))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    if not heads or heads[0][0] > 0:
        sections.append(Section(0, heads[0][0] if heads else len(text)))
    for n, (start, level, title) in enumerate(heads):
        path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
        end = heads[n + 1][0] if n + 1 < len(heads) else len(text)
        sections.append(Section(start, end, " > ".join(t for _, t in path if t) or None))
    first = next((t for _, lv, t in heads if lv == 1), None)
    return Parsed(text, kind, sections, first)


def _html(data: bytes) -> Parsed:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    # Headings become Markdown headings, blocks become paragraphs: one structure path for both.
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    blocks = ("p", "div", "li", "tr", "pre", "blockquote", "section", "article", "table", "ul", "ol",
              "header", "footer", "main", "aside", "dd", "dt")
    for block in soup.find_all(blocks):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    text = re.sub(r"[ \t\r\f\v]+", " ", soup.get_text())
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    parsed = _markdown(text, "html")
    parsed.title = title or parsed.title
    return parsed


def _pdf(data: bytes) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InvalidInput(f"not a readable PDF: {exc}", field="file") from exc
    parts: list[str] = []
    sections: list[Section] = []
    pos = 0
    for number, page_text in enumerate(pages, start=1):
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        sections.append(Section(pos, pos + len(page_text), None, number))
        parts.append(page_text)
        pos += len(page_text)
    if not sections:
        raise InvalidInput("the PDF has no extractable text (a scan? OCR is not supported)", field="file")
    return Parsed("".join(parts), "pdf", sections, str(title) if title else None)


def _docx(data: bytes) -> Parsed:
    import zipfile

    from docx import Document

    try:
        doc = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(f"not a readable DOCX file: {exc}", field="file") from exc
    lines: list[str] = []
    for para in doc.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        match = re.match(r"Heading (\d)", style)
        lines.append(f"{'#' * int(match.group(1))} {text}" if match else text)
    for table in doc.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    parsed = _markdown("\n\n".join(lines), "docx")
    parsed.title = doc.core_properties.title or parsed.title
    return parsed


def parse(data: bytes, *, filename: str | None = None, content_type: str | None = None) -> Parsed:
    """Parse a document; raises 4xx errors for empty, binary, unsupported or unreadable input."""
    kind = detect(filename, content_type)
    if not data or not data.strip():
        raise InvalidInput("the document is empty", field="file")
    if kind == "pdf":
        parsed = _pdf(data)
    elif kind == "docx":
        parsed = _docx(data)
    elif kind == "html":
        parsed = _html(data)
    else:
        text = decode_text(data).replace("\r\n", "\n")
        bad = sum(1 for c in text[:4096] if ord(c) < 32 and c not in "\n\t\r\f")
        if bad > 8:
            raise InvalidInput("the document looks like binary data, not text", field="file")
        parsed = _markdown(text) if kind == "markdown" else Parsed(text, "text", [Section(0, len(text))])
    if not parsed.text.strip():
        raise InvalidInput("the document has no text", field="file")
    return parsed
