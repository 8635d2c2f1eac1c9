"""tfnn's own error types for what a user can cause and fix, and the one whole-number check.

``UserError`` is the base of every error whose message tells the user what to do: bad
arguments (``InvalidArgument``), unusable data (``tfnn.data.DataError``), checkpoints
(``tfnn.checkpoint.CheckpointError``), a diverged run (``tfnn.train.TrainingDiverged``)
and the commands' own (``tfnn.commands.CommandError``). The command line prints such an
error as one line; any other exception is a bug and keeps its traceback. Each subclass
also derives from the matching built-in (``ValueError``...), so ``except ValueError``
keeps working.

Example::

    try:
        trainer.fit(x, y, epochs=0)
    except UserError as e:
        print(e)   # epochs must be a whole number >= 1, not 0
"""

from __future__ import annotations

import operator


class UserError(Exception):
    """An error the user can fix; the message says how."""


class InvalidArgument(UserError, ValueError):
    """An argument has a value tfnn cannot use; the message names it and says what fits."""


def whole_number(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is a whole number >= ``minimum`` (Python or numpy).

    ``bool`` is refused although it is an ``int``: ``epochs=True`` is a mistake.

    Example::

        whole_number(np.int64(3), "epochs")   # 3
        whole_number(0, "epochs")             # InvalidArgument: epochs must be ... not 0
        whole_number(0, "seed", minimum=0)    # 0
    """
    try:
        number = None if isinstance(value, bool) else operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise InvalidArgument(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return number
