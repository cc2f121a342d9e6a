"""Error types that the toolkit raises for bad input, each with a message a user can act on."""


class InterpError(Exception):
    """Base class for every error the toolkit raises about its inputs."""


class ConfigError(InterpError, ValueError):
    """A model configuration is malformed or inconsistent."""


class CheckpointError(InterpError):
    """A checkpoint folder is missing, incomplete, corrupt or does not match its config."""


class ManifestError(InterpError, ValueError):
    """The checkpoints manifest is malformed or refers to something that does not exist."""


class NotAnalysable(InterpError, ValueError):
    """The inputs leave nothing to analyse on a suite: no usable minimal pair, labels the model
    cannot express, or two models whose units cannot be compared. A study records the suite as
    not analysed, with this reason, and goes on; any other error stops it."""


class TrainingError(InterpError):
    """Training stopped: a loss that is not finite, or a failed build of a manifest entry."""
