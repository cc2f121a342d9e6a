"""The results the toolkit writes, as typed records: one definition per field, one
serialisation (`Record.to_data`), documented in docs/results.md (generated from these models
by `python -m interp.results.doc`)."""

from interp.results.analysis import (
    ChanceBaseline,
    Circuit,
    CircuitMeta,
    Damage,
    FaithfulnessCurve,
    MibScores,
    ModelAnalysis,
    Specificity,
    UnitsChoice,
)
from interp.results.diff import CircuitDiff, Correspondence, DiffDetails, DivergingHead, LayerMaps
from interp.results.record import SCHEMA_VERSION, Record, ResultsFile, parse, read_json
from interp.results.study import (
    ComparisonResult,
    Distillability,
    EvaluationResults,
    SeedConsistency,
    StudyResults,
    SuiteResult,
    Validity,
)
from interp.results.sweep import Claim, ClaimTest, SweepDistillability, SweepResults


def read_results(path) -> StudyResults | SweepResults:
    """A study's or a sweep's results.json, told apart by its `sweep` field."""
    data = read_json(path, "a study's or a sweep's results.json")
    if isinstance(data, dict) and "sweep" in data:
        return parse(SweepResults, data, path, "sweep's results.json")
    return parse(StudyResults, data, path, "study's or a sweep's results.json")


__all__ = [
    "SCHEMA_VERSION",
    "ChanceBaseline",
    "Circuit",
    "CircuitDiff",
    "CircuitMeta",
    "Claim",
    "ClaimTest",
    "ComparisonResult",
    "Correspondence",
    "Damage",
    "DiffDetails",
    "Distillability",
    "DivergingHead",
    "EvaluationResults",
    "FaithfulnessCurve",
    "LayerMaps",
    "MibScores",
    "ModelAnalysis",
    "Record",
    "ResultsFile",
    "SeedConsistency",
    "Specificity",
    "StudyResults",
    "SuiteResult",
    "SweepDistillability",
    "SweepResults",
    "UnitsChoice",
    "Validity",
    "read_json",
    "read_results",
]
