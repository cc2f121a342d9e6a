"""Checks that commands run before any work: the output folder can be written, the device
exists. A failure is an InterpError that names the argument and says what to do."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from interp.errors import InterpError


def repeated(values) -> list[str]:
    """The values that occur more than once (as text, sorted): `--seeds 0 0` would count a
    model twice."""
    return sorted({str(v) for v in values if list(values).count(v) > 1})


def is_folder_name(text: str) -> bool:
    """One folder name that keeps a run inside its parent: no separator, not '.' or '..', no
    control or format characters (a right-to-left override would show another name), at most
    100 characters."""
    return (
        bool(text)
        and text not in (".", "..")
        and "/" not in text
        and "\\" not in text
        and not any(unicodedata.category(c) in UNPRINTABLE for c in text)
        and len(text) <= 100
    )


# Unicode categories that print as nothing or change how the rest prints: controls, format
# characters (bidirectional overrides, zero-width joiners), line and paragraph separators.
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with every unprintable character (terminal escapes, bidirectional overrides) shown
    as its escape code, for printing text read from a user's files."""
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in UNPRINTABLE else c
        for c in text
    )


def writable_folder(path: str | Path, what: str = "--out") -> Path:
    """Create `path` (and its parents) and prove it writable with a probe file, or fail."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InterpError(f"{what} {path}: is a file, not a folder; give a folder")
    probe = path / f".interp-write-check-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except NotADirectoryError:
        raise InterpError(
            f"{what} {path}: a part of this path is a file, not a folder; give another folder"
        ) from None
    except PermissionError:
        raise InterpError(f"{what} {path}: no permission to write there") from None
    except OSError as err:
        raise InterpError(f"{what} {path}: cannot write there ({err.strerror or err})") from None
    return path


def check_device(device: str) -> str:
    """The device if torch can use it; a clear error for a typo or a missing GPU."""
    import torch  # lazy: the command-line checks run before torch is otherwise needed

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise InterpError(
            f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N"
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InterpError(
                f"--device {device}: this torch ({torch.__version__}) sees no CUDA GPU; "
                "use --device cpu"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InterpError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise InterpError(
                f"--device {device}: this torch ({torch.__version__}) has no MPS device here; "
                "use --device cpu"
            )
    elif parsed.type != "cpu":
        raise InterpError(f"--device {device}: only cpu, cuda and mps are supported")
    return device
