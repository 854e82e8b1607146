"""``python -m aiodag``: the same as the ``aiodag`` command."""

from .cli import main

raise SystemExit(main())
