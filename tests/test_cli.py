"""The command line's own surface: help for every option, defaults shown, --version, --debug anywhere,
and the docs' `seqattnet ...` lines checked against the parsers."""

import argparse
import re
from pathlib import Path

import pytest

from seqattnet import __version__
from seqattnet.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
PARSER = build_parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_a_default_is_shown(name):
    parser = COMMANDS[name]
    text = parser.format_help()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{name} {action.option_strings[0]} has no help"
        if action.nargs != 0 and action.default is None and not action.required:  # the help says what happens
            assert re.search(r"default|required", action.help), f"{name} {action.option_strings[0]}: say what its absence means"
    if "--device" in _options(parser):
        assert "(default: auto)" in text or "(default: cpu)" in text


def test_defaults_appear_in_help():
    text = COMMANDS["extract"].format_help()
    assert "frames per snippet (default: 16)" in " ".join(text.split())
    assert "(default 16) (default" not in text


def test_every_command_with_progress_bars_has_quiet():
    for name in ("demo", "train", "evaluate", "predict", "extract", "detect"):
        assert "--quiet" in _options(COMMANDS[name]), name


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"seqattnet {__version__}"


def test_top_level_help_describes_the_tool():
    text = PARSER.format_help()
    assert "Temporal action localization" in text and "argument parsing" not in text


def test_debug_after_the_command_shows_the_traceback(tmp_path):
    from seqattnet.errors import InputError

    with pytest.raises(InputError, match="checkpoint not found"):
        main(["evaluate", "--checkpoint", str(tmp_path / "nope.pt"), "--debug"])
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope.pt")]) == 2


def _doc_commands(text: str):
    """The argument lists of every `seqattnet ...` in code: fenced blocks (with `\\` continuations) and
    inline code spans."""
    blocks = [b.replace("\\\n", " ") for b in re.findall(r"```[^\n]*\n(.*?)```", text, re.S)]
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    for line in [line for block in blocks for line in block.splitlines()] + inline:
        for match in re.finditer(r"(?:^|[\s(;&|$])seqattnet\s+([^\n`;&|#]*)", line):
            tokens = match.group(1).replace("\\|", " ").split()
            if tokens and not tokens[0].endswith(":") and not tokens[0].isupper():  # an example message, `COMMAND`
                yield tokens


def test_docs_show_only_options_that_exist():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked, wrong = 0, []
    for path in files:
        for tokens in _doc_commands(path.read_text(encoding="utf-8")):
            command, options = (None, _options(PARSER)) if tokens[0].startswith("-") else (tokens[0], None)
            if command is not None:
                if command not in COMMANDS:
                    wrong.append(f"{path.name}: no command {command!r} in `seqattnet {' '.join(tokens)}`")
                    continue
                options = _options(COMMANDS[command]) | _options(PARSER)
            for token in tokens:
                flag = token.strip("[]()").split("=")[0]
                if flag.startswith("--") and flag not in options:
                    wrong.append(f"{path.name}: {flag} in `seqattnet {' '.join(tokens)}`")
            if command == "train" and len(tokens) > 1 and not {"--config", "--resume"} & {t.strip("[]") for t in tokens}:
                wrong.append(f"{path.name}: `seqattnet train` without --config")
            checked += 1
    assert not wrong, wrong
    assert checked >= 30  # the scan finds the docs' commands


def test_every_config_option_lists_every_shipped_config():
    shipped = sorted(p.stem for p in (ROOT / "src" / "seqattnet" / "configs").glob("*.yaml"))
    assert "activitynet-paper" in shipped
    with_config = [name for name, parser in COMMANDS.items() if "--config" in _options(parser)]
    assert {"train", "info", "check-data"} <= set(with_config)
    for name in [*with_config, "config"]:
        text = " ".join(COMMANDS[name].format_help().split())
        assert f"shipped config name ({', '.join(shipped)}) or a YAML path" in text, name


def test_config_show_prints_the_resolved_config(tmp_path, capsys):
    import yaml

    from seqattnet.config import load_config, to_dict

    assert main(["config", "show", "thumos14", "--set", "train.epochs=3"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == to_dict(load_config("thumos14", ["train.epochs=3"]))
    (tmp_path / "mine.yaml").write_text("base: activitynet-paper\ndata: {root: data}\n")
    assert main(["config", "show", str(tmp_path / "mine.yaml")]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert (shown["model"]["error_input"], shown["train"]["epochs"], shown["data"]["root"]) == \
        ("proposal", 5, str(tmp_path / "data"))
    assert main(["config", "show", "nosuch"]) == 2
    assert "nosuch: no such config file; shipped configs: activitynet, activitynet-paper" in capsys.readouterr().err


def test_the_demo_time_is_the_same_everywhere():
    """The README's measured CPU time of `make demo`, rounded, is what the help, the description and
    demo.yaml say."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    minutes, seconds = map(int, re.search(r"\((\d+) min (\d+) s of CPU time\)", readme).groups())
    said = f"about {round(minutes + seconds / 60)} min of CPU time"
    yaml_text = (ROOT / "src" / "seqattnet" / "configs" / "demo.yaml").read_text(encoding="utf-8")
    places = {"README's make demo": re.search(r"make demo .*", readme).group(0),
              "seqattnet --help": " ".join(PARSER.format_help().split()),
              "demo.yaml": " ".join(line.lstrip("# ") for line in yaml_text.splitlines() if line.startswith("#"))}
    assert {name: said in text for name, text in places.items()} == dict.fromkeys(places, True), said
    assert places["seqattnet --help"].count(said) == 2  # the description and the demo command's line
