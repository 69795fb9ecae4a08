"""forge-tui: a pre-execution gate for AI agents with a signed, hash-chained ledger."""

__version__ = "0.1.0"
