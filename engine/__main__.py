"""``python -m engine`` is the ``baton`` command."""

from .cli import main

main()
