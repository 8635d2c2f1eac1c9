"""``DataError``, the base of ``tfnn.data``'s errors: a data file or source that cannot be used.

``tfnn.data.fetch.DownloadError`` derives from it; ``ValueError``s of ``Batches`` are
mistakes in the arguments, not in the data.
"""

from __future__ import annotations

from tfnn.errors import UserError


class DataError(UserError, ValueError):
    """A data file is missing, corrupt or inconsistent; the message names it and says what to do.

    Example::

        try:
            load_mnist("train", data_dir="/nowhere")
        except DataError as e:
            print(e)
    """
