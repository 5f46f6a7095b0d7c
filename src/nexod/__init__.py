"""Nexod: a self-hosted agent platform that speaks the LangGraph Server wire format."""

__version__ = "0.1.0"
