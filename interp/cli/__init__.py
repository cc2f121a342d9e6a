"""The `interp` command: inspect the manifest and models, describe probe suites, train, evaluate,
run studies and sweeps, and analyse single models.

One module per job: `parser` (the options of every command), `models` (listing and inspecting
models), `runs` (train, evaluate, study, sweep, findings, demo), `analyses` (circuit,
attention and diff of single models), `types` (option value types); here the entry point.

lazy: each command imports what it needs when it runs, so that `interp --help` and argument
errors come back at once, without importing torch.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback

from interp.checks import printable
from interp.cli.parser import build_parser
from interp.errors import InterpError
from interp.threads import apply_thread_setting, quiet_spinning

__all__ = ["build_parser", "main"]


# Commands that analyse models in this process (INTERP_THREADS sets their thread count).
ANALYSES = ("eval", "study", "sweep", "circuit", "attention", "diff", "demo", "inspect")


def _stop_when_asked() -> None:
    """Ctrl-C (SIGINT) and SIGTERM both stop a command cleanly, even when the launcher started it
    with SIGINT ignored (a background job of a non-interactive shell)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _check_arguments(args: argparse.Namespace) -> None:
    """What can be checked before any work: the device, and that the output folder can be
    written (a report written after an hour of training must not fail for want of a folder)."""
    from interp.checks import check_device, writable_folder

    if getattr(args, "device", None):
        check_device(args.device)
    if getattr(args, "out", None):
        writable_folder(args.out)


def one_line(err: BaseException) -> str:
    """The error as one line: a file error names the file, others their first line."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or type(err).__name__}"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def main(argv: list[str] | None = None) -> int:
    quiet_spinning()  # before anything loads torch
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line, before or after the command
    debug = "--debug" in argv or os.environ.get("INTERP_DEBUG", "") not in ("", "0")
    try:
        args = build_parser().parse_args([a for a in argv if a != "--debug"])
    except SystemExit as done:  # --help, --version, or a bad argument (one line, code 2)
        return int(done.code or 0)
    _stop_when_asked()
    try:
        _check_arguments(args)
        if args.command in ANALYSES:
            apply_thread_setting()
        return args.func(args)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: what was finished is kept; run the command again to resume",
            file=sys.stderr,
        )
        return 130
    except (InterpError, ValueError, OSError) as err:
        if debug:
            traceback.print_exc()
        print(f"error: {printable(one_line(err))}", file=sys.stderr)
        return 2
