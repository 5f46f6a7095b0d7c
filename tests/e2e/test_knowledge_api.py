"""The knowledge base through HTTP, on SQLite + the local store and PostgreSQL + pgvector."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.servers import Server

GUIDE = """# Billing guide

## Refunds

Customers on annual plans can ask for a refund within 30 days of purchase. Monthly plans are
not refundable, but you can cancel at any time and keep access until the period ends.

## Invoices

Invoices are emailed on the first day of each billing period. You can download past invoices
from the account settings page as PDF files.
"""

CATS = """Cats are small carnivorous mammals. They sleep for most of the day and hunt at dusk.
A group of cats is called a clowder. Domestic cats communicate by meowing, purring and hissing."""


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica, written by hand (offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def tiny_docx(heading: str, body: str) -> bytes:
    from docx import Document

    doc = Document()
    doc.add_heading(heading, level=1)
    doc.add_paragraph(body)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture
def ns() -> str:
    return f"kb-{uuid.uuid4().hex[:10]}"


async def ingest_text(http: httpx.AsyncClient, ns: str, text: str, source: str, **extra: Any) -> dict[str, Any]:
    r = await http.post("/knowledge/documents", json={"text": text, "source": source, "namespace": ns, **extra})
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def search(http: httpx.AsyncClient, ns: str, query: str, **extra: Any) -> list[dict[str, Any]]:
    r = await http.post("/knowledge/search", json={"query": query, "namespace": ns, **extra})
    assert r.status_code == 200, r.text
    return list(r.json()["hits"])


async def test_ingest_search_with_citations(http: httpx.AsyncClient, ns: str) -> None:
    doc = await ingest_text(http, ns, GUIDE, "billing.md", content_type="text/markdown",
                            metadata={"team": "billing", "year": 2026})
    assert doc["status"] == "indexed" and doc["chunk_count"] >= 2 and doc["title"] == "Billing guide"
    await ingest_text(http, ns, CATS, "cats.txt", metadata={"team": "zoo"})
    for mode in ("hybrid", "semantic", "keyword"):
        hits = await search(http, ns, "can I get my money back on a yearly subscription?"
                            if mode != "keyword" else "refund annual plans", mode=mode, k=3)
        top = hits[0]
        assert top["source"] == "billing.md" and "refund" in top["text"], (mode, hits)
        assert top["section"] == "Billing guide > Refunds"
        assert top["char_end"] - top["char_start"] == len(top["text"])
        assert GUIDE.replace("\r\n", "\n")[top["char_start"]:top["char_end"]] == top["text"]
        assert top["document_id"] == doc["document_id"] and top["chunk_id"].startswith(doc["document_id"] + "#1#")
    hybrid = await search(http, ns, "refund annual plans", k=5)
    assert set(hybrid[0]["ranks"]) == {"semantic", "keyword"}
    zoo = await search(http, ns, "refund annual plans", filter={"team": "zoo"})
    assert {h["source"] for h in zoo} == {"cats.txt"}
    recent = await search(http, ns, "invoices", filter={"year": {"$gte": 2026}, "team": {"$in": ["billing"]}})
    assert recent and all(h["metadata"]["team"] == "billing" for h in recent)


async def test_file_types_through_multipart(http: httpx.AsyncClient, ns: str) -> None:
    files = {
        "note.txt": (CATS.encode(), "text/plain"),
        "page.html": (b"<html><head><title>Tea</title><script>evil()</script></head><body><h1>Green tea</h1>"
                      b"<p>Green tea is brewed at 80 degrees for two minutes.</p></body></html>", "text/html"),
        "manual.pdf": (tiny_pdf("The turbine must be inspected every 400 operating hours."), "application/pdf"),
        "memo.docx": (tiny_docx("Parking", "Visitors park on level minus two of the garage."),
                      "application/octet-stream"),
    }
    for name, (data, media) in files.items():
        r = await http.post("/knowledge/documents", files={"file": (name, data, media)},
                            data={"namespace": ns, "metadata": '{"kind": "upload"}'})
        assert r.status_code == 201, (name, r.text)
        assert r.json()["status"] == "indexed"
    assert (await search(http, ns, "how often is the turbine inspected", k=1))[0]["source"] == "manual.pdf"
    assert (await search(http, ns, "water temperature for brewing", k=1))[0]["source"] == "page.html"
    park = (await search(http, ns, "where do guests leave their car", k=1))[0]
    assert park["source"] == "memo.docx" and park["section"] == "Parking"
    html = (await search(http, ns, "green tea", k=1, mode="keyword"))[0]
    assert html["title"] == "Tea" and "evil" not in html["text"]


async def test_reingest_replaces_and_delete_removes(http: httpx.AsyncClient, ns: str) -> None:
    first = await ingest_text(http, ns, "The launch code is PELICAN.", "codes.txt")
    again = await http.post("/knowledge/documents", json={"text": "The launch code is PELICAN.",
                                                          "source": "codes.txt", "namespace": ns})
    assert again.status_code == 200 and again.json()["version"] == 1  # unchanged: nothing re-embedded
    second = await ingest_text(http, ns, "The launch code is now FLAMINGO.", "codes.txt")
    assert second["document_id"] == first["document_id"] and second["version"] == 2
    hits = await search(http, ns, "launch code PELICAN FLAMINGO", k=10)
    assert [h["text"] for h in hits] == ["The launch code is now FLAMINGO."]
    assert hits[0]["chunk_id"] == f"{first['document_id']}#2#0"
    listed = (await http.get("/knowledge/documents", params={"namespace": ns})).json()
    assert [d["source"] for d in listed] == ["codes.txt"]
    assert (await http.delete(f"/knowledge/documents/{first['document_id']}")).status_code == 204
    assert (await http.get(f"/knowledge/documents/{first['document_id']}")).status_code == 404
    gone = await http.post("/knowledge/search", json={"query": "launch code", "namespace": ns})
    assert gone.status_code == 404 and ns in gone.json()["detail"]


async def test_bad_input_is_4xx_and_writes_nothing(http: httpx.AsyncClient, ns: str) -> None:
    await ingest_text(http, ns, CATS, "cats.txt")
    before = (await http.get("/knowledge/documents", params={"namespace": ns})).json()

    async def upload(name: str, data: bytes, media: str = "application/octet-stream") -> httpx.Response:
        return await http.post("/knowledge/documents", files={"file": (name, data, media)}, data={"namespace": ns})

    cases: list[tuple[httpx.Response, int, str]] = [
        (await upload("empty.txt", b""), 422, "empty"),
        (await upload("blank.md", b"   \n\n  "), 422, "empty"),
        (await upload("garbage.txt", bytes(range(256)) * 20), 422, "not text"),
        (await upload("garbage.pdf", b"%PDF-1.4 this is not really a pdf"), 422, "PDF"),
        (await upload("scan.docx", b"PK\x03\x04 broken zip"), 422, "DOCX"),
        (await upload("archive.zip", b"PK\x03\x04"), 415, "unsupported"),
        (await upload("picture.png", b"\x89PNG\r\n", "image/png"), 415, "unsupported"),
        (await upload("huge.txt", b"a" * (25 * 1024 * 1024 + 1)), 413, "limit"),
        (await http.post("/knowledge/documents", content=b"plain body", headers={"content-type": "text/plain"}),
         415, "multipart"),
        (await http.post("/knowledge/documents", json={"text": "x", "source": "a.txt", "namespace": "bad ns!"}),
         422, "namespace"),
        (await http.post("/knowledge/documents", json={"text": "x", "source": "a.txt", "namespace": ns,
                                                       "metadata": {"nested": {"no": 1}}}), 422, "metadata"),
        (await http.post("/knowledge/documents", json={"text": "x", "source": "a.txt", "extra": 1}), 422, "extra"),
        (await http.post("/knowledge/search", json={"query": "cats", "namespace": ns,
                                                    "filter": {"year": {"$gt": "2020"}}}), 422, "$gt"),
        (await http.post("/knowledge/search", json={"query": "cats", "namespace": ns,
                                                    "filter": {"$near": 1}}), 422, "$near"),
        (await http.post("/knowledge/search", json={"query": "cats", "namespace": ns,
                                                    "filter": {"a": {"$in": []}}}), 422, "$in"),
        (await http.post("/knowledge/search", json={"query": "cats", "namespace": f"{ns}-other"}), 404,
         "namespace"),
        (await http.post("/knowledge/search", json={"query": "", "namespace": ns}), 422, "query"),
    ]
    for resp, status, needle in cases:
        assert resp.status_code == status, (needle, resp.status_code, resp.text)
        assert needle.lower() in resp.json()["detail"].lower(), (needle, resp.text)
    after = (await http.get("/knowledge/documents", params={"namespace": ns})).json()
    assert after == before
    assert len(await search(http, ns, "cats", k=100)) == len(await search(http, ns, "cats", k=100))


async def test_vector_store_operations_in_metrics(http: httpx.AsyncClient, ns: str, server: Server) -> None:
    """Each upsert and query of the vector store is timed in /metrics, labelled by backend and
    operation (never by namespace or document)."""
    from tests.e2e.test_observability import metrics, value

    before = metrics(server.url)
    await ingest_text(http, ns, GUIDE, "billing.md", content_type="text/markdown")
    for _ in range(3):
        await search(http, ns, "refund annual plans", mode="semantic")
    await search(http, ns, "refund annual plans", mode="keyword")  # no vector query
    after = metrics(server.url)
    name = "nexod_vector_search_duration_seconds"
    count = f"{name}_count"
    assert value(after, count, op="query") - value(before, count, op="query") == 3
    assert value(after, count, op="upsert") - value(before, count, op="upsert") == 1
    backends = {lab["backend"] for lab, _ in after[count]}
    assert backends <= {"local", "pgvector"} and backends, backends
    took = value(after, f"{name}_sum", op="query") - value(before, f"{name}_sum", op="query")
    assert 0 < took < 30
    assert not any(ns in str(lab) for lab, _ in after[count])
