"""The engine behind ``tfnn bench``: the same training work timed for every contender.

Contenders are the tfnn strategies on each backend (``tfnn-numpy-condition-w2b1``, ...)
and two references written without tfnn: a hand-written numpy loop (``numpy-loop``) and
PyTorch eager (``torch-cpu``, ``torch-cuda``). All of them start from the same initial
weights, see the same batches and run the same number of steps.

Modules: ``model`` (what every benchmark shares, bench/ scripts included: contenders,
interleaved runs, medians and ratios, "too short to compare"), ``workload`` (networks,
initial weights, data, the training ``Workload``), ``references`` (the numpy and PyTorch
loops), ``contenders`` (who runs and how one run is warmed up and timed), ``guard`` (same
weights before any timing), ``overhead`` (executor cost per task, and the no-op graphs
bench/executor.py times too), ``ranks`` (``--ranks``: data-parallel contenders, each run
an ``mpiexec`` job), ``report`` (machine facts, table, JSON, plots) and ``command``
(the ``tfnn bench`` arguments). Importing this package imports nothing heavy, so the CLI
stays light.

Example::

    $ tfnn bench --quick --out /tmp/bench
"""
