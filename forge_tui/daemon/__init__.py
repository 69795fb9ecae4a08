"""The per-project gate daemon: JSON-RPC over a Unix socket, policy, approval queue, durable ledger."""
