"""The `seqattnet` command: argument parsing only; the work happens in the package's modules.

Each subcommand is an `add_<name>` (its arguments) and a `run_<name>` in `commands/`; this module builds
the parser from them and turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import sys

from .commands import inference, results, training
from .errors import InputError, command_line


def _error_code(error: Exception) -> int | None:
    """2 for bad input, 1 for a run that failed for a known reason (a non-finite loss), None: a bug to show."""
    if isinstance(error, (InputError, FileNotFoundError)):
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
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")

DESCRIPTION = """Temporal action localization with SeqAttNet: train on per-video features (ActivityNet,
THUMOS14 or your own), evaluate with the official ActivityNet mAP and AR@AN, detect actions in feature
files or straight from video files, and export the model. `seqattnet demo` runs the whole pipeline on
a built-in dataset in about 13 min of CPU time; `seqattnet COMMAND --help` describes each command."""


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    parser = _Parser(prog="seqattnet", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"seqattnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in (training.add_demo, training.add_train, training.add_evaluate, inference.add_predict,
                results.add_evaluate_json, training.add_info, training.add_bench, training.add_check_data,
                inference.add_extract, inference.add_detect, inference.add_export, results.add_diagnose):
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
        message = str(e).replace("\n", " ")  # one line, whatever the message
        print(f"seqattnet {args.command}: error: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
