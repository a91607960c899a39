"""Messages stay one short line: bad values quoted in part, a library's error reduced to its first line,
terminal codes removed before the command line prints them."""

import pickle

from seqattnet import cli
from seqattnet.errors import InputError, brief, plain, quoted, unpickling_refused


def test_quoted_cuts_long_values_and_counts_what_it_left_out():
    assert quoted("abc") == "'abc'" and quoted([1, 2]) == "[1, 2]" and quoted(3.5) == "3.5"
    assert quoted(list(range(20000))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1... (a list of 20,000 items)"
    assert quoted("x" * 5000) == "'" + "x" * 39 + "... (5,002 characters)"
    assert quoted({"k": "v" * 100}, limit=10) == "{'k': 'vvv... (a dict of 1 item)"
    assert len(quoted(b"\x00" * 10**6)) < 80


def test_plain_removes_terminal_codes_and_line_breaks():
    assert plain("\x1b[1m\x1b[31mWeights only load failed.\x1b[0m\n\n  Re-running it  may work\n") == \
        "Weights only load failed. Re-running it  may work"


def test_brief_keeps_the_type_and_the_first_line():
    assert brief(ValueError("could not convert\nmore advice\n")) == "ValueError: could not convert"
    assert brief(KeyError()) == "KeyError"
    long = brief(RuntimeError("\x1b[31m" + "y" * 500))
    assert long.startswith("RuntimeError: yyy") and long.endswith("...") and len(long) == 123


def test_unpickling_refused_names_the_class_torch_refused():
    assert unpickling_refused(pickle.UnpicklingError("Weights only load failed. Unsupported global: "
                                                     "GLOBAL builtins.open was not an allowed global")) == "builtins.open"
    assert unpickling_refused(pickle.UnpicklingError("... got <class 'numpy.dtypes.ObjectDType'> ...")) == \
        "numpy.dtypes.ObjectDType"
    assert unpickling_refused(pickle.UnpicklingError("invalid load key, 'h'.")) is None
    assert unpickling_refused(ValueError("GLOBAL builtins.open")) is None


def test_the_command_line_prints_messages_without_terminal_codes(monkeypatch, capsys):
    def fails(args):
        raise InputError("\x1b[31mfeatures.pt\x1b[0m: bad\nsecond line")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["info"].set_defaults(run=fails)
    assert cli.main(["info"]) == 2
    assert capsys.readouterr().err == "seqattnet info: error: features.pt: bad second line\n"
