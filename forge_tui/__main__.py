from forge_tui.cli import entry

if __name__ == "__main__":  # not when a spawned worker process (daemon/queries.py) imports it
    entry()
