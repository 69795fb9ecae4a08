"""Screens of the console: queue, inspect, ledger, verify, policy, dialogs."""
