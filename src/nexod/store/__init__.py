"""Long-term memory: the LangGraph store API on Nexod's own ``store_items`` table."""
