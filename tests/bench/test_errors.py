"""``tfnn bench`` refuses bad input in one line, before any work, through tfnn.cli's path."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from tfnn.bench import command
from tfnn.cli import main
from tfnn.commands import CommandError

SMALL = ["--backends", "numpy", "--models", "taskflow-mnist", "--steps", "2", "--repeats", "1"]


def _one_line(capsys, status):
    err = capsys.readouterr().err.strip()
    assert status != 0, err
    assert len(err.splitlines()) == 1 and err.startswith("tfnn: error:"), err
    return err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "nan"], "argument --lr: nan is not a finite number > 0"),
        (["--lr", "-0.1"], "argument --lr: -0.1 is not a finite number > 0"),
        (["--momentum", "2"], "argument --momentum: 2 is not a number in [0, 1)"),
        (["--strategies", ""], "--strategies is empty; choose from sequential"),
        (["--strategies", " , "], "--strategies is empty"),
        (["--batch-sizes", ""], "argument --batch-sizes: '' lists no number"),
        (["--steps", "0"], "argument --steps: 0 is not a whole number >= 1"),
        (["--seed", "-5"], "argument --seed: -5 is not a whole number >= 0"),
    ],
)
def test_bad_flags_are_refused_in_one_line(flags, message, tmp_path, capsys, no_work):
    status = main(["bench", *SMALL, *flags, "--out", str(tmp_path / "out")])
    assert message in _one_line(capsys, status)


def test_a_diverging_training_is_one_line(tmp_path, capsys):
    flags = ["--strategies", "sequential", "--lr", "1e6", "--out", str(tmp_path)]
    status = main(["bench", *SMALL, *flags])
    err = _one_line(capsys, status)
    assert "the training diverges with lr 1e+06" in err and "lower --lr" in err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.smoke
def test_out_that_is_a_file_is_refused_naming_it(tmp_path, capsys, no_work):
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    err = _one_line(capsys, main(["bench", *SMALL, "--out", str(taken)]))
    assert f"--out {str(taken)!r} is not a folder" in err
    assert taken.read_text() == "keep me"


def test_out_in_a_missing_folder_is_refused_naming_it(tmp_path, capsys, no_work):
    given = str(tmp_path / "missing" / "out")
    err = _one_line(capsys, main(["bench", *SMALL, "--out", given]))
    assert f"--out {given}: the folder {tmp_path / 'missing'} does not exist" in err


def test_out_holding_a_foreign_results_file_is_refused(tmp_path, capsys, no_work):
    (tmp_path / "results.json").write_text('{"mine": true}')
    err = _one_line(capsys, main(["bench", *SMALL, "--out", str(tmp_path)]))
    assert f"{tmp_path / 'results.json'} exists and is not tfnn bench results" in err
    assert json.loads((tmp_path / "results.json").read_text()) == {"mine": True}


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_out_in_a_read_only_folder_is_refused(tmp_path, capsys, no_work):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        err = _one_line(capsys, main(["bench", *SMALL, "--out", str(locked / "out")]))
    finally:
        locked.chmod(0o700)
    assert f"the folder {locked} is not writable" in err


def test_out_written_by_tfnn_bench_before_is_accepted(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema": "tfnn-bench/1"}))
    (tmp_path / "throughput.png").write_bytes(command.PNG + b"...")
    assert command.check_out(str(tmp_path)) == tmp_path


@pytest.mark.smoke
def test_errors_reach_the_cli_as_command_errors():
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    with pytest.raises(CommandError, match="--strategies is empty"):
        command.run(parser.parse_args(["--strategies", ""]))
