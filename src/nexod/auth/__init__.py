"""Identity: who is calling (principals, API keys, Clerk tokens, browser sessions), which
organisation they act in, and what they may do (roles, scopes, per-assistant grants)."""
