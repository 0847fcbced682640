"""``python -m admon.cli``: the same as the ``admon`` script."""

from admon.cli import main

main()
