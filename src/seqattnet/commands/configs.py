"""`seqattnet config show`: a config as the commands resolve it (shipped name or YAML, `base:`, --set)."""

from __future__ import annotations

import argparse

from .options import config_names, set_option


def add_config(sub) -> None:
    p = sub.add_parser("config", help="print a resolved config as YAML (the shipped ones live inside the package)",
                       description="Print a config with every value resolved: its base configs, its --set "
                                   "overrides and the defaults (the shipped recipe) for the keys it leaves out.")
    p.add_argument("action", choices=["show"], help="show: print the config as YAML")
    p.add_argument("name", metavar="NAME", help=config_names())
    set_option(p)
    p.set_defaults(run=run_config)


def run_config(args: argparse.Namespace) -> None:
    import yaml

    from ..config import load_config, to_dict

    print(yaml.safe_dump(to_dict(load_config(args.name, args.set)), sort_keys=False), end="")
