"""Structure-aware chunking: sections first (headings, pages), then paragraphs, lines, sentences.

Inside each section, LangChain's ``RecursiveCharacterTextSplitter`` (a small, well-kept
package) splits on the coarsest boundary that fits: blank lines, then line breaks, then
sentence ends, then words. Chunks never cross a section, and every chunk knows its exact
character offsets in the document text (for citations).
"""

from __future__ import annotations

from dataclasses import dataclass

from nexod.knowledge.parsing import Parsed

SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: its text, offsets into the document text, and where it sits."""

    index: int
    text: str
    start: int
    end: int
    section: str | None
    page: int | None

    def embedding_text(self, title: str | None) -> str:
        """What is embedded: the chunk under its title and heading path (context helps retrieval)."""
        context = " > ".join(p for p in (title, self.section) if p)
        return f"{context}\n{self.text}" if context else self.text


def chunk(parsed: Parsed, *, size: int, overlap: int) -> list[Chunk]:
    """Split ``parsed`` into chunks of at most ``size`` characters overlapping by ``overlap``."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS, keep_separator="end",
        add_start_index=True, strip_whitespace=True,
    )
    out: list[Chunk] = []
    for section in parsed.sections:
        body = parsed.text[section.start : section.end]
        if not body.strip():
            continue
        for doc in splitter.create_documents([body]):
            text = doc.page_content
            if not text.strip():
                continue
            rel = int(doc.metadata.get("start_index", -1))
            if rel < 0 or body[rel : rel + len(text)] != text:
                rel = body.find(text)  # the splitter could not place it: find it ourselves
            start = section.start + max(rel, 0)
            out.append(Chunk(len(out), text, start, start + len(text), section.heading, section.page))
    return out
