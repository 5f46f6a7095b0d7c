"""Crews: CrewAI-style agents and tasks, compiled into LangGraph graphs.

Knows nothing of runs or HTTP: ``spec`` reads the YAML, ``graph`` compiles it.
"""
