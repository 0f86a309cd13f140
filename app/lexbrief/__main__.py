from lexbrief.ui.cli.main import main

raise SystemExit(main())
