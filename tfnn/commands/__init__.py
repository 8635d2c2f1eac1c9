"""The ``tfnn`` subcommands that do real work, one module each, and what they share.

``train`` trains an MLP and reports progress; ``graph`` prints a strategy's task graph as
Graphviz DOT; ``model_spec`` adds ``--layers``/``--activation``; ``arguments`` holds the
argparse types; ``checks`` what ``train`` checks before training; ``progress`` shows a
run's progress bar, evaluation lines and metrics file. ``tfnn.cli`` registers the commands
and turns ``CommandError`` (any ``tfnn.errors.UserError``) into one line on stderr.

Example::

    $ tfnn train --epochs 1
    $ tfnn graph --strategy condition | dot -Tsvg > condition.svg
"""

from tfnn.errors import UserError


class CommandError(UserError):
    """A command cannot go on for a reason the user can fix; the message says how."""
