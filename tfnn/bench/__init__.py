"""The engine behind ``tfnn bench``: the same training work timed for every contender.

Contenders are the tfnn strategies on each backend (``tfnn-numpy-condition-w2b1``, ...)
and two references written without tfnn: a hand-written numpy loop (``numpy-loop``) and
PyTorch eager (``torch-cpu``, ``torch-cuda``). All of them start from the same initial
weights, see the same batches and run the same number of steps.

Modules: ``models`` (networks, initial weights, data, the ``Workload``), ``references``
(the numpy and PyTorch loops), ``contenders`` (who runs and how one run is timed),
``timing`` (correctness guard, interleaved repetitions, medians and ratios), ``overhead``
(executor cost per task), ``report`` (machine facts, table, JSON, plots) and ``command``
(the ``tfnn bench`` arguments). Importing this package imports nothing heavy, so the CLI
stays light.

Example::

    $ tfnn bench --quick --out /tmp/bench
"""
