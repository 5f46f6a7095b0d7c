"""The benchmark's own graphs, served through ``graphs/langgraph.json`` and imported by the peer."""
