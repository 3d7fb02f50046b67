"""``python -m exocortex.cli``: the ``exocortex`` program."""

from exocortex.cli import main

main()
