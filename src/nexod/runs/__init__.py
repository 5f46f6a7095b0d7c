"""Runs: creation and multitask rules, the durable queue, workers and graph execution."""
