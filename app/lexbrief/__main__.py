from lexbrief.cli.main import main

raise SystemExit(main())
