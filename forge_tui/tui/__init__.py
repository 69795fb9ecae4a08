"""The Textual console. Nothing under forge_tui.core imports this package: the core stays headless."""
