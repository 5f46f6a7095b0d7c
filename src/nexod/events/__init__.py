"""Run events: the bus that carries them live and the log (``agent_logs``) that replays them."""
