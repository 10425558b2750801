"""`python -m bot` does what the `labelgram` command does."""

from bot.cli import main

raise SystemExit(main())
