"""Knowledge base: ingest, chunking, embeddings, vector stores, keyword and hybrid search."""
