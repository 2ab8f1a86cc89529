"""Console entry point: reports a missing extra in one line, even when the CLI's own dependencies are absent."""

import sys


def main() -> None:
    try:
        from .cli.app import main as cli_main
    except ModuleNotFoundError as exc:
        print(f"error: {exc.name} is not installed; the command line needs: pip install 'textdistill[cli]'",
              file=sys.stderr)
        sys.exit(2)
    cli_main()
