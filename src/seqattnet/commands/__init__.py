"""The subcommands of `seqattnet` (cli.py builds the parser from them): each an `add_<name>` that declares
its arguments and a `run_<name>` that checks them and calls into the package, where the work happens."""
