from forge_tui.cli import entry

entry()
