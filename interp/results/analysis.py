"""What the analysis of one model on one suite produces (`interp.analysis.analyse_model`):
a circuit with its faithfulness curve, chance baseline and specificity."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from interp.io import atomic_write_text
from interp.results.record import Record

Number = float | None  # None (null in results.json): undefined, e.g. no behaviour to explain


class MibScores(Record):
    """MIB's circuit-track scores of a ranking: faithfulness of its top fractions of units."""

    fractions: list[float]
    """Fractions of the units at which the ranking is cut (MIB's grid)."""
    sizes: list[int]
    """Units in each cut: floor(fraction x units)."""
    faithfulness: list[Number]
    """Faithfulness of each cut."""
    cpr: Number
    """Circuit performance ratio: area under faithfulness over the fractions (higher is better)."""
    cmd: Number
    """Circuit-model distance: area of |1 - faithfulness| over the fractions (lower is better)."""


class FaithfulnessCurve(Record):
    """Faithfulness of the top-k units of the ranking, for each k evaluated."""

    optional_fields = frozenset({"edge_mib"})

    ranking: list[str]
    """Every unit, best first."""
    sizes: list[int]
    """The k evaluated."""
    faithfulness: list[Number]
    """Faithfulness of the top-k circuit for each size (1: the model's behaviour, 0: none)."""
    area_under: Number
    """Area under the curve over k / units."""
    area_from_one: Number
    """Area between the curve and 1 over k / units."""
    mib: MibScores
    """MIB's CPR and CMD of this ranking."""
    edge_mib: MibScores | None = None
    """Node units of a pre-norm model only: MIB's scores of the EAP-IG edge ranking."""


class CircuitMeta(Record):
    """How a circuit was chosen."""

    optional_fields = frozenset({"faithfulness", "reached", "ranking", "undefined"})

    rule: str
    """The selection rule, e.g. `faithfulness >= 0.8` or `top-5`."""
    faithfulness: Number = None
    """The circuit's faithfulness (None: undefined)."""
    reached: bool | None = None
    """Whether a circuit reached the target (otherwise the whole ranking is kept)."""
    ranking: str | None = None
    """What ordered the units: `attribution`, or `exact` when the attribution was unreliable."""
    undefined: str | None = None
    """Why there is no circuit, when the model does not tell clean from corrupt inputs apart."""


class Circuit(Record):
    """A set of units (`interp.units` names) with their scores."""

    nodes: list[str]
    """The circuit's units, in ranking order."""
    scores: dict[str, float] = Field(default_factory=dict)
    """Unit -> the score that ranked it."""
    edges: list[str] = Field(default_factory=list)
    """Edges between the circuit's nodes that were scored (pre-norm models)."""
    meta: CircuitMeta = Field(default_factory=lambda: CircuitMeta(rule="given"))
    """How it was chosen."""

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Circuit:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


class ChanceBaseline(Record):
    """A circuit against random circuits of its shape (`interp.chance`)."""

    faithfulness: Number
    """The circuit's faithfulness."""
    n_samples: int
    """Random circuits drawn."""
    n_possible: int
    """Distinct circuits of this shape (capped at 10**12)."""
    random_mean: Number
    """Mean faithfulness of the random circuits."""
    random_p95: Number
    """95th percentile of the random circuits' faithfulness."""
    percentile: Number
    """Share of random circuits the circuit beats, in percent."""
    p_value: Number
    """Share of random circuits at least as faithful (with the circuit itself counted)."""
    beats_chance: bool | None
    """Whether p < 0.05; None when undefined (no behaviour, or no other circuit of its shape)."""


class Damage(Record):
    """What mean-ablating a circuit does to one set of examples (`interp.specificity`)."""

    n: int
    """Examples the intact model gets right."""
    margin: Number
    """Their mean margin (gold logit minus the contrast logit)."""
    ablated_margin: Number
    """The same with the circuit mean-ablated."""
    accuracy_after: Number
    """Share of those examples still right after ablation."""
    damage: Number
    """1 - ablated margin / margin; None with too few examples."""


class Specificity(Record):
    """Whether a circuit is specific to its task: damage on it against damage on controls."""

    target: Damage
    """Damage on the suite's own minimal pairs."""
    controls: dict[str, Damage] = Field(default_factory=dict)
    """Control example set -> damage there."""
    control_damage: Number = None
    """The largest defined control damage."""
    ratio: Number = None
    """Control damage / target damage."""
    specific: bool | None = None
    """Whether the control damage stays well below the target damage; None when undefined."""


class UnitsChoice(Record):
    """With `--units auto`: the units chosen and the estimates behind the choice."""

    budget_s: float
    """Seconds one model's analysis may take."""
    estimated_s: dict[str, float]
    """Units -> estimated analysis time in seconds (from FLOPs at a fixed rate)."""
    chosen: str
    """The finest units whose estimate fits the budget."""


class ModelAnalysis(Record):
    """Everything measured inside one model on one suite's minimal pairs."""

    model: str
    """The model's id."""
    suite: str
    """The probe suite."""
    n_pairs: int
    """Minimal pairs analysed."""
    clean_metric: float
    """Mean logit difference (gold minus foil) on the clean inputs."""
    corrupt_metric: float
    """The same on the corrupt inputs."""
    attribution_method: str
    """eap, eap-ig or eap-ig-activations."""
    attribution: dict[str, float]
    """Unit -> its attribution score."""
    exact: dict[str, float]
    """Unit -> its exact denoising effect (metric minus the corrupt metric)."""
    spearman: Number
    """Rank agreement of attribution and exact effects over the units."""
    curve: FaithfulnessCurve
    """Faithfulness curve of the ranking that built the circuit."""
    circuit: Circuit
    """The smallest top-k circuit reaching the target faithfulness."""
    edges: dict[str, float]
    """Edge scores between circuit nodes (or of an edge circuit's edges); empty for post-norm
    models."""
    head_stats: dict[str, list[list[Number]]]
    """Statistic (entropy, special, overlap, negation) -> [layer][head] on the clean inputs;
    None where undefined."""
    n_layers: int
    """The model's layers."""
    n_heads: int
    """Heads per layer."""
    units: str = "node"
    """Circuit units: node, position or edge (`interp.units`)."""
    ranking: str = "attribution"
    """What ordered the units: attribution, or exact (the attribution was unreliable)."""
    chance: ChanceBaseline | None = None
    """The circuit against random circuits of its shape; None without a circuit."""
    specificity: Specificity | None = None
    """The circuit's specificity; None without controls or circuit."""
    units_choice: UnitsChoice | None = None
    """With units "auto": the budget and estimates behind the choice."""
