"""The manifest's schema: model entries, their recipes, teacher-student comparisons and
sweeps, each validated field by field (pydantic), and pydantic errors as messages that name the
entry and the field."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from interp.losses import parse_loss
from probes.tasks import get_task

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Scalar = Union[bool, int, float, str]
# Recipe params that training reads (interp.train.recipes); anything else is a typo.
RECIPE_PARAMS = {
    "batch_size": "examples per step",
    "lr": "peak learning rate",
    "checkpoint_every": "steps between saved training states",
    "temperature": "KD softmax temperature",
    "alpha": "KD weight of the hard loss",
    "bias_scale": "exponent on the bias model's probabilities (debiasing strength)",
    "features": "bias model features, comma-separated",
    "guide_suite": "kd+attention / kd+causal: suites, comma-separated; the first on which the "
    "teacher has a circuit guides the student",
    "guide_circuit": "the teacher circuit, comma-separated (default: found on guide_suite)",
    "guide_results": "a study's results.json to read the teacher circuit from (per guide_suite)",
    "guide_target": "faithfulness the found teacher circuit reaches (default 0.8)",
    "guide_weight": "weight of the circuit-guided loss (default 1.0)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Recipe(_Strict):
    """How `interp train` builds a model: architecture, loss, teacher, fix, seed."""

    arch: str | dict[str, Any]
    loss: str
    teacher: str | None = None
    bias_model: str | None = None
    assistant: str | None = None
    fix: Literal["augment", "iterative", "teacher_init"] | None = None
    seed: int = 0
    steps: int | None = Field(default=None, ge=1)
    params: dict[str, Scalar] = {}
    data: dict[str, Scalar] = {}  # benchmark settings over the manifest's (e.g. n_train)

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(RECIPE_PARAMS))
        if unknown:
            raise ValueError(
                f"unknown recipe param(s) {unknown}; known: {', '.join(RECIPE_PARAMS)}"
            )
        return value

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        parse_loss(value)  # a ValueError listing the registered losses
        return value


def _known_task(value: str) -> str:
    get_task(value)  # a ValueError listing the registered tasks
    return value


class ModelEntry(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    role: Literal["teacher", "student", "assistant", "bias_model"]
    task: str
    path: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    recipe: Recipe | None = None
    description: str = ""
    tags: list[str] = []
    seed_group: str | None = None  # the id before seed expansion
    # Label names of a checkpoint that does not name its labels the task's way, e.g.
    # {LABEL_0: entailment, LABEL_1: neutral, LABEL_2: contradiction}.
    label_map: dict[str, str] = {}

    _task = field_validator("task")(_known_task)

    @model_validator(mode="after")
    def _known_data(self) -> "ModelEntry":
        if self.recipe is not None and self.recipe.data:
            try:
                get_task(self.task).make_settings(self.recipe.data)
            except (TypeError, ValueError) as err:
                raise ValueError(f"recipe.data: {err}") from None
        return self


class Comparison(_Strict):
    """A teacher and its student compared (with the non-KD baseline): an entry of the
    manifest's `pairs:` section, which keeps its YAML name. "Minimal pair" means a clean and a
    corrupt example (`interp.contrast`), never this."""

    id: str = Field(pattern=ID_PATTERN)
    teacher: str
    student: str
    baseline: str | None = None  # the non-KD student, for the contribution metric
    # models evaluated with the pair (validity and accuracy tables), not analysed
    controls: list[str] = []
    suites: list[str] = Field(min_length=1)
    tags: list[str] = []
    seed_group: str | None = None
    factors: dict[str, Scalar] = {}  # what a sweep varied for this pair


class Sweep(_Strict):
    """A grid of teacher/student comparisons that `interp sweep` builds and evaluates.

    Each combination of debiasing method, teacher architecture, student architecture and
    training-set size gives a teacher, its KD student, the same student trained without KD
    (with the method's loss) and a pair; every model over `seeds`; one bias model per size.
    """

    id: str = Field(pattern=ID_PATTERN)
    task: str = "nli"
    methods: list[Literal["erm", "reweight", "poe", "augment"]] = Field(min_length=1)
    teachers: dict[str, str | dict[str, Any]] = Field(min_length=1)  # name -> arch
    students: dict[str, str | dict[str, Any]] = Field(min_length=1)
    train_sizes: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default=[0], min_length=1)
    teacher_steps: int = Field(default=2000, ge=1)
    student_steps: int = Field(default=1500, ge=1)
    params: dict[str, Scalar] = {}  # recipe params of every model
    method_params: dict[str, dict[str, Scalar]] = {}  # recipe params per debiasing method
    bias_params: dict[str, Scalar] = {}  # the bias models' recipe params (e.g. features)
    # benchmark settings of every model beside the grid's n_train (e.g. n_augment)
    data: dict[str, Scalar] = {}
    suites: list[str] | None = None  # the pairs' suites; default: the task's analysed ones
    tags: list[str] = []

    _task = field_validator("task")(_known_task)

    @field_validator("data")
    @classmethod
    def _grid_owns_n_train(cls, data: dict[str, Scalar]) -> dict[str, Scalar]:
        if "n_train" in data:
            raise ValueError("n_train is the grid's train_sizes; set it there, not in data")
        return data


def describe_validation(err: ValidationError, raw: dict) -> str:
    """Pydantic errors as `manifest entry 'ID': field 'F': message`."""
    parts = []
    for problem in err.errors():
        loc = list(problem["loc"])
        where = "top level"
        if len(loc) >= 2 and loc[0] in ("models", "pairs") and isinstance(loc[1], int):
            items = raw.get(loc[0]) or []
            item = items[loc[1]] if loc[1] < len(items) else None
            name = item.get("id") if isinstance(item, dict) else None
            kind = "manifest entry" if loc[0] == "models" else "pair"
            where = f"{kind} '{name}'" if name else f"{kind} #{loc[1] + 1}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc)
        message = "unknown field" if problem["type"] == "extra_forbidden" else problem["msg"]
        message = message.removeprefix("Value error, ")
        parts.append(f"{where}: field '{field}': {message}" if field else f"{where}: {message}")
    return "; ".join(parts)
