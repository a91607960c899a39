"""The `seqattnet` command: argument parsing only; the work happens in the package's modules.

Each subcommand is an `add_<name>` (its arguments) and a `run_<name>` in `commands/`; this module builds
the parser from them and turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import re
import sys

from .commands import configs, inference, results, training
from .errors import InputError, command_line, plain
from .files import describe_os_error


def _error_code(error: Exception) -> int | None:
    """2 for bad input and for what the system refused (a file that cannot be read or written: a folder where
    a file was named, a full disk, a name over the system's limit), 1 for a run that failed for a known reason
    (a non-finite loss), None: a bug to show."""
    if isinstance(error, (InputError, OSError)):
        return 2
    train = sys.modules.get("seqattnet.engine.train")  # only loaded, so only raised, when a command trained
    if train is not None and isinstance(error, train.NonFiniteLoss):
        return 1
    return None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, unless the help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line, like every other error (argparse prints the usage block too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        message = re.sub(r"'([^']{40})[^']{4,}'", r"'\1...'", plain(message))  # a long value typed, cut
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")

DESCRIPTION = """Temporal action localization with SeqAttNet: train on per-video features (ActivityNet,
THUMOS14 or your own), evaluate with the official ActivityNet mAP and AR@AN, detect actions in feature
files or straight from video files, and export the model. `seqattnet demo` runs the whole pipeline on
a built-in dataset in about 7 min of CPU time; `seqattnet COMMAND --help` describes each command."""


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    parser = _Parser(prog="seqattnet", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"seqattnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in (training.add_demo, training.add_train, training.add_evaluate, inference.add_predict,
                results.add_evaluate_json, training.add_info, configs.add_config, training.add_bench, training.add_check_data,
                inference.add_extract, inference.add_detect, inference.add_watch, inference.add_export, results.add_diagnose):
        add(sub)
    for command in sub.choices.values():  # also after the command; SUPPRESS keeps a --debug given before it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show full tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with command_line():  # messages name --flags, not the Python arguments behind them
            args.run(args)
    except Exception as e:
        code = _error_code(e)
        if args.debug or code is None:
            raise
        message = describe_os_error(e) if isinstance(e, OSError) else str(e)
        message = plain(message)  # one line, without a library's terminal colours
        print(f"seqattnet {args.command}: error: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt as e:  # a training run's Interrupted says what its folder holds and how to go on
        print(f"seqattnet {args.command}: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
