"""The ``tfnn`` command line: ``tfnn info``, ``train``, ``graph`` and ``bench``.

Each subcommand is a ``Command`` in ``COMMANDS``: its one-line help, a function adding
its arguments to its own parser, and a function running it that returns the exit
status. A later subcommand lives in its own module and adds one entry here. ``main``
parses, dispatches, and turns the errors a user can cause (bad usage, tfnn's own
``UserError``s, an unusable backend, a missing file) into one line on stderr and a
non-zero exit. Anything else is a bug and keeps its traceback; ``--traceback`` (or
``TFNN_DEBUG=1``) prints the traceback of a user error too.

Example::

    $ tfnn info          # on the 2-core CPU machine the project runs on (no GPU)
    backend           usable  version     device  details
    numpy             yes     2.4.6       cpu     host CPU, 2 cores; cpu:N are virtual devices
    torch             yes     2.13.0+cpu  cpu     host CPU
    cupy              no      -           -       backend 'cupy' is not installed or does not ...
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NamedTuple, NoReturn

from tfnn import __version__
from tfnn.backends import BackendError, BackendInfo, DeviceInfo, describe_backends
from tfnn.commands import graph, train
from tfnn.errors import UserError


class UsageError(Exception):
    """The command line itself is wrong; the message says how."""


class Command(NamedTuple):
    """One subcommand: ``run(args)`` returns the exit status."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


USER_ERRORS: tuple[type[BaseException], ...] = (UsageError, UserError, BackendError, OSError)
DEBUG_ENV = "TFNN_DEBUG"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tfnn`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Example::

        main(["info"])   # prints the backend table, returns 0
    """
    args = None
    try:
        args = _parser().parse_args(argv)
        status: int = args.command.run(args)
    except BrokenPipeError:
        # The reader (say `tfnn info | head -1`) left; point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SystemExit as e:  # argparse exits after --help
        return e.code if isinstance(e.code, int) else 0
    except USER_ERRORS as e:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0") or getattr(args, "traceback", False):
            traceback.print_exc()
        print("tfnn: error:", *str(e).split(), file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        print("tfnn: interrupted", file=sys.stderr)
        return 130
    return status


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits; one line through main reads better.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tfnn",
        description="Neural-network training as Taskflow-style task graphs over array backends.",
    )
    parser.add_argument("--version", action="version", version=f"tfnn {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        command_parser = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(command_parser)
        command_parser.add_argument(
            "--traceback",
            action="store_true",
            help=f"print the traceback of an error too (or set {DEBUG_ENV}=1)",
        )
        command_parser.set_defaults(command=command)
    return parser


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    """``tfnn info`` takes no arguments."""


def _info(args: argparse.Namespace) -> int:
    from tfnn.parallel.info import format_mpi, format_nccl, mpi_info
    from tfnn.parallel.nccl import nccl_status

    print(format_backends(describe_backends()))
    print(format_mpi(mpi_info()))
    print(format_nccl(nccl_status()))
    return 0


def format_backends(infos: Sequence[BackendInfo]) -> str:
    """A plain-text table: one line per usable device, one per unusable backend with why.

    Example::

        print(format_backends(describe_backends()))
    """
    rows = [("backend", "usable", "version", "device", "details")]
    for info in infos:
        version = info.version or "-"
        if not info.usable:
            rows.append((info.name, "no", version, "-", info.reason or ""))
            continue
        for i, device in enumerate(info.devices):
            first = (info.name, "yes", version) if i == 0 else ("", "", "")
            rows.append((*first, device.device, _device_details(device)))
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) for row in rows)
    return "\n".join(f"{line}  {row[4]}".rstrip() for line, row in zip(lines, rows, strict=True))


def _device_details(device: DeviceInfo) -> str:
    if device.memory is None:
        return device.name
    free, total = (n / 2**30 for n in device.memory)
    return f"{device.name}, {free:.1f} GiB free of {total:.1f} GiB"


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    from tfnn.bench.command import add_arguments

    add_arguments(parser)


def _bench(args: argparse.Namespace) -> int:
    # Imported here: the benchmark pulls in torch and matplotlib, which `tfnn info` never needs.
    from tfnn.bench.command import run

    return run(args)


COMMANDS: dict[str, Command] = {
    "info": Command("list array backends, their devices and GPUs", _info_arguments, _info),
    "train": Command(train.HELP, train.add_arguments, train.run),
    "graph": Command(graph.HELP, graph.add_arguments, graph.run),
    "bench": Command(
        "time training per backend, strategy and reference; table, JSON and plots",
        _bench_arguments,
        _bench,
    ),
}
