from mixq.cli import main

raise SystemExit(main())
