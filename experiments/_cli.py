"""One argparse formatter for every command in ``experiments/``: the module docstring kept as
written, and every option's default shown in ``--help``."""

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Raw description + ``(default: ...)`` after each option's help."""
