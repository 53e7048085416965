"""``python -m tracklog.cli``: the ``tracklog`` command."""

from tracklog.cli import main

main()
