"""The one exception type of ``tfnn.data``: a data file or source that cannot be used."""

from __future__ import annotations


class DataError(ValueError):
    """A data file is missing, corrupt or inconsistent; the message names it and says what to do.

    Example::

        try:
            load_mnist("train", data_dir="/nowhere")
        except DataError as e:
            print(e)
    """
