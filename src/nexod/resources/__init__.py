"""Assistants and threads: the resources runs are made on."""
