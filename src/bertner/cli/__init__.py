"""The `bertner` command (bertner.cli.main), one module per subcommand."""

from bertner.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
