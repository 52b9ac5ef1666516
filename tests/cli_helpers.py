"""Shared by the CLI tests: run ``exion_tools.cli.main`` in-process and capture its output."""

from exion_tools.cli import main


def run(capsys, *argv):
    """``main(argv)`` -> (status, stdout, stderr); argparse's own errors exit via SystemExit."""
    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err
