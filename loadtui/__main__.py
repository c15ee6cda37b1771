from loadtui.cli import main

raise SystemExit(main())
