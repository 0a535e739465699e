"""`python -m wsmon_tui` runs the same command line as the `wsmon-tui` script."""

from wsmon_tui.cli import main

raise SystemExit(main())
