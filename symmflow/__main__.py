from symmflow.cli import main

raise SystemExit(main())
