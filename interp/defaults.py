"""The defaults of the commands and their configs, in one place (no torch: the command line
reads them to build its parser). `StudyConfig`, `SweepConfig`, the parser and the analysis
functions all take their defaults from here."""

MANIFEST = "checkpoints_manifest.yaml"
OUT = "reports"
DEVICE = "cpu"
JOBS = 2  # models trained at once

N_BOOTSTRAP = 1000  # resamples of every 95% interval
N_PAIRS = 64  # minimal pairs analysed per suite
TARGET = 0.8  # faithfulness a circuit must reach
MIN_SEPARATION = 0.5  # logits; the pairs a teacher tells apart
IG_STEPS = 5
ATTRIBUTION = "eap-ig"
UNITS = "auto"
TIME_BUDGET_S = 600.0  # with units auto: seconds one model's analysis may take
CHANCE_SAMPLES = 200  # random circuits of a circuit's shape

# Upper bounds of the commands' counts (a value above one is refused with the bound stated):
# well above any real use, below what exhausts memory or never ends.
MAX_JOBS = 256
MAX_IG_STEPS = 1000
MAX_CHANCE_SAMPLES = 100_000
MAX_PAIRS = 100_000
MAX_BOOTSTRAP = 100_000
MAX_BATCH = 65_536
MAX_THREADS = 1024  # INTERP_THREADS
