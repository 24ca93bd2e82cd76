"""``python -m jaxconv``: the command line (``bench``, ``explain``)."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each subcommand lives in its own module with `add_arguments(parser)` and `run(args)`;
# they are imported only when chosen so that `--help` stays fast.
_COMMANDS = {
    "bench": ("jaxconv._bench.cli", "verify jaxconv against lax and time both on every device"),
    "explain": ("jaxconv._explain_cli", "show how one output element of a convolution is computed"),
    "rules": ("jaxconv._bench.rules_cli", "print auto's strategy rules, or fit them on a sweep"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jaxconv",
        description="jaxconv: convolutions for JAX from lax primitives, checked against lax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    args = parser.parse_args(argv)
    if args.command is None:
        # As argparse does for a missing argument: usage on stderr, exit status 2.
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: choose a command: {', '.join(_COMMANDS)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
