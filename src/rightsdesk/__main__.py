"""``python -m rightsdesk``: the same command line as ``rightsdesk``, for a checkout whose
console script points at another copy of the code (a git worktree, ``PYTHONPATH=src``)."""

from rightsdesk.cli import main

raise SystemExit(main())
