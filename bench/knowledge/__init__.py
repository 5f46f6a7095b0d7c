"""Knowledge-base benchmarks: retrieval quality (``quality``) and scale (``scale``)."""
