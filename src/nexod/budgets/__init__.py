"""Per-organisation token and cost budgets (see :mod:`nexod.budgets.base`)."""
