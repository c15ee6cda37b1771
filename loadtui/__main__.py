from loadtui.cli.main import main

if __name__ == "__main__":  # the engine's spawned processes import this module too
    raise SystemExit(main())
