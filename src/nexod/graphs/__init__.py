"""Graphs: the config file, the registry of loaded graphs and the checkpointer factory."""
