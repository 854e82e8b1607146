"""The ``aiodag`` command: ``demo``, ``run`` and ``render``.

Needs the ``cli`` extra, and ``trace`` and ``viz`` for what it writes
(``pip install aiodag[all]``).
"""

from .main import main

__all__ = ["main"]
