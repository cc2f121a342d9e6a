"""The checkpoints manifest: schema, validation naming entry and field, resolution to paths.

`checkpoints_manifest.yaml` lists every model a study knows (an existing checkpoint `path`, or a
`recipe` that `interp train` builds into `<checkpoint_dir>/<id>`) and the teacher/student `pairs`
a study compares. Relative paths are relative to the manifest's folder.

An entry or pair with `seeds: [0, 1, 2]` stands for one copy per seed, with ids `<id>-s<seed>`;
its recipe gets that seed, and its references to other seeded entries get the same suffix.
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from interp import defaults
from interp.errors import CheckpointError, ManifestError
from interp.io import read_text_bounded, sha256_file
from interp.losses import parse_loss
from interp.yamlfile import MAX_BYTES, load_yaml
from probes.tasks import check_suites, get_task

DEFAULT_MANIFEST = defaults.MANIFEST
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


def sweep_entries(sweep: Sweep) -> tuple[list[dict], list[dict]]:
    """The manifest entries and pairs (as raw dicts, with `seeds`) of a sweep's grid."""
    tags = [sweep.id, *sweep.tags]
    suites = sweep.suites or list(get_task(sweep.task).analysed)
    models, pairs = [], []

    def add(model_id: str, role: str, seeded: bool = True, **recipe) -> str:
        seeds = {"seeds": sweep.seeds} if seeded else {}
        entry = {"id": model_id, "role": role, "task": sweep.task, "tags": tags, **seeds}
        models.append({**entry, "recipe": recipe})
        return model_id

    for size in sweep.train_sizes:
        data = {**sweep.data, "n_train": size}
        bias = add(
            f"{sweep.id}-bias-n{size}",
            "bias_model",
            seeded=False,
            arch="features",
            loss="erm",
            params=sweep.bias_params,
            data=data,
        )
        for method in sweep.methods:
            params = {**sweep.params, **sweep.method_params.get(method, {})}
            # augmentation is cross-entropy on the training set plus the bias-conflicting
            # augment examples, for the teacher and for the student without KD alike
            augment = method == "augment"
            debias = {"fix": "augment"} if augment else {}
            if method not in ("erm", "augment"):
                debias = {"bias_model": bias}
            teacher_loss = "erm" if augment else method
            alone = "erm" if method in ("erm", "augment") else f"nokd+{method}"
            baselines = {
                s_name: add(
                    f"{sweep.id}-nokd-{method}-{s_name}-n{size}",
                    "student",
                    arch=s_arch,
                    loss=alone,
                    steps=sweep.student_steps,
                    params=params,
                    data=data,
                    **debias,
                )
                for s_name, s_arch in sweep.students.items()
            }
            for t_name, t_arch in sweep.teachers.items():
                teacher = add(
                    f"{sweep.id}-{method}-{t_name}-n{size}",
                    "teacher",
                    arch=t_arch,
                    loss=teacher_loss,
                    steps=sweep.teacher_steps,
                    params=params,
                    data=data,
                    **debias,
                )
                for s_name, s_arch in sweep.students.items():
                    student = add(
                        f"{sweep.id}-{method}-{t_name}-{s_name}-n{size}",
                        "student",
                        arch=s_arch,
                        loss="kd",
                        teacher=teacher,
                        steps=sweep.student_steps,
                        params=sweep.params,
                        data=data,
                    )
                    pairs.append(
                        {
                            "id": student,
                            "teacher": teacher,
                            "student": student,
                            "baseline": baselines[s_name],
                            "suites": suites,
                            "tags": tags,
                            "seeds": sweep.seeds,
                            "factors": {
                                "method": method,
                                "teacher": t_name,
                                "student": s_name,
                                "train_size": size,
                            },
                        }
                    )
    return models, pairs


class Manifest(_Strict):
    version: Literal[1] = 1
    checkpoint_dir: str = "checkpoints"
    # Torch threads of every training task: part of what fixes the weights (float sums depend
    # on how work is split between threads), so it is set here, not by the number of jobs.
    train_threads: int = Field(default=1, ge=1)
    # Benchmark settings per task (NLIConfig / DigitsConfig fields), e.g. {nli: {seed: 0}}.
    data: dict[str, dict[str, Scalar]] = {}
    models: list[ModelEntry] = []
    pairs: list[Comparison] = []
    sweeps: list[Sweep] = []
    root: Path = Field(default=Path("."), exclude=True)

    @field_validator("data")
    @classmethod
    def _known_settings(cls, value: dict) -> dict:
        for task, settings in value.items():
            get_task(task).make_settings(settings)  # unknown names and bad values: ValueError
        return value

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path = DEFAULT_MANIFEST) -> "Manifest":
        path = Path(path)
        if path.is_dir():
            raise ManifestError(f"{path}: is a folder; give the manifest file (a .yaml file)")
        try:
            raw = load_yaml(read_text_bounded(path, MAX_BYTES, "manifest file"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such manifest file") from None
        except UnicodeDecodeError as err:
            raise ManifestError(f"{path}: not UTF-8 text (byte {err.start})") from None
        except OSError as err:
            raise ManifestError(f"{path}: cannot be read ({err.strerror or err})") from None
        except ValueError as err:  # not a regular file, or too large
            raise ManifestError(str(err)) from None
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            problem = getattr(err, "problem", None) or str(err) or type(err).__name__
            raise ManifestError(f"{path}: not valid YAML{line} ({problem})") from None
        return cls.from_dict(raw, root=path.resolve().parent, source=str(path))

    @classmethod
    def from_dict(cls, raw: Any, root: Path = Path("."), source: str = "manifest") -> "Manifest":
        if not isinstance(raw, dict):
            raise ManifestError(f"{source}: expected a mapping at the top level")
        try:
            raw = expand_seeds(expand_sweeps(raw))
        except ManifestError as err:
            raise ManifestError(f"{source}: {err}") from None
        try:
            manifest = cls.model_validate({**raw, "root": root})
        except ValidationError as err:
            raise ManifestError(f"{source}: {_describe(err, raw)}") from None
        problems = manifest._reference_problems()
        if problems:
            raise ManifestError(f"{source}: " + "; ".join(problems))
        return manifest

    def _reference_problems(self) -> list[str]:
        problems = []
        ids = [m.id for m in self.models]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"manifest entry '{dup}' is defined {ids.count(dup)} times")
        known = set(ids)
        for entry in self.models:
            if (entry.path is None) == (entry.recipe is None):
                problems.append(
                    f"manifest entry '{entry.id}': give exactly one of 'path' and 'recipe'"
                )
            if entry.sha256 is not None and entry.path is None:
                problems.append(f"manifest entry '{entry.id}': 'sha256' needs a 'path'")
            if entry.recipe is not None:
                for field in ("teacher", "bias_model", "assistant"):
                    ref = getattr(entry.recipe, field)
                    if ref is not None and ref not in known:
                        problems.append(
                            f"manifest entry '{entry.id}': field 'recipe.{field}' names "
                            f"'{ref}', which is not defined"
                        )
                    if ref == entry.id:
                        problems.append(
                            f"manifest entry '{entry.id}': field 'recipe.{field}' names itself"
                        )
        by_id = {m.id: m for m in self.models}
        for entry in self.models:
            recipe = entry.recipe
            if recipe is None:
                continue
            for field in ("teacher", "assistant"):
                other = by_id.get(getattr(recipe, field) or "")
                if other is not None and other.id != entry.id:
                    problems += _kd_problems(entry, other, field, self)
            bias = by_id.get(recipe.bias_model or "")
            if bias is not None and (bias.role != "bias_model" or bias.task != entry.task):
                problems.append(
                    f"manifest entry '{entry.id}': field 'recipe.bias_model' names "
                    f"'{bias.id}', which is a {bias.task} {bias.role}, not a {entry.task} "
                    "bias model"
                )
        pair_ids = [p.id for p in self.pairs]
        for dup in sorted({i for i in pair_ids if pair_ids.count(i) > 1}):
            problems.append(f"pair '{dup}' is defined {pair_ids.count(dup)} times")
        for pair in self.pairs:
            named = [(f, getattr(pair, f)) for f in ("teacher", "student", "baseline")]
            for field, ref in named + [("controls", ref) for ref in pair.controls]:
                if ref is not None and ref not in known:
                    problems.append(
                        f"pair '{pair.id}': field '{field}' names '{ref}', which is not defined"
                    )
            if pair.teacher in by_id:
                task = by_id[pair.teacher].task
                try:
                    check_suites(task, pair.suites)
                except ValueError as err:
                    problems.append(f"pair '{pair.id}': field 'suites': {err}")
                others = [(f, getattr(pair, f)) for f in ("student", "baseline")]
                for field, ref in others + [("controls", ref) for ref in pair.controls]:
                    other = by_id.get(ref or "")
                    if other is not None and other.task != task:
                        problems.append(
                            f"pair '{pair.id}': teacher '{pair.teacher}' is a {task} model but "
                            f"{field} '{other.id}' a {other.task} one"
                        )
        return problems

    # ------------------------------------------------------------------ queries
    def data_for(self, entry: ModelEntry) -> dict[str, Scalar]:
        """The benchmark settings an entry trains on: the manifest's, then its recipe's."""
        recipe_data = entry.recipe.data if entry.recipe is not None else {}
        return {**self.data.get(entry.task, {}), **recipe_data}

    def sweep(self, sweep_id: str) -> Sweep:
        for sweep in self.sweeps:
            if sweep.id == sweep_id:
                return sweep
        known = [s.id for s in self.sweeps]
        raise ManifestError(f"no sweep '{sweep_id}' ({known_names(sweep_id, known)})")

    def entry(self, model_id: str) -> ModelEntry:
        for entry in self.models:
            if entry.id == model_id:
                return entry
        copies = self.seed_copies(model_id)
        if copies:
            raise ManifestError(
                f"'{model_id}' has one entry per seed: {', '.join(copies)}; name one of them"
            )
        groups = sorted({m.seed_group for m in self.models if m.seed_group is not None})
        known = [m.id for m in self.models] + groups
        raise ManifestError(f"no manifest entry '{model_id}' ({known_names(model_id, known)})")

    def seed_copies(self, group: str, seed: int | None = None) -> list[str]:
        """The ids of a seeded entry's copies (`erm-teacher` -> erm-teacher-s0, ...), or only
        the given seed's; empty when `group` is not a seeded entry."""
        return [
            m.id
            for m in self.models
            if m.seed_group == group and (seed is None or copy_seed(m) == seed)
        ]

    def comparison(self, comparison_id: str) -> Comparison:
        """The teacher-student comparison of that id (the manifest's `pairs:` section)."""
        for comparison in self.pairs:
            if comparison.id == comparison_id:
                return comparison
        known = [c.id for c in self.pairs]
        raise ManifestError(f"no pair '{comparison_id}' ({known_names(comparison_id, known)})")

    def location(self, model_id: str) -> Path:
        """Where the entry's checkpoint lives (given path, or where its recipe writes it).

        `package://NAME/SUB/PATH` names a folder shipped inside an installed Python package.
        """
        entry = self.entry(model_id)
        if entry.path and entry.path.startswith(PACKAGE_SCHEME):
            return package_path(entry.path, model_id)
        relative = Path(entry.path) if entry.path else Path(self.checkpoint_dir) / entry.id
        return relative if relative.is_absolute() else self.root / relative

    def exists(self, model_id: str) -> bool:
        return (self.location(model_id) / "config.json").exists()

    def checkpoint_path(self, model_id: str, verify: bool = True) -> Path:
        """The entry's checkpoint folder; with `verify`, it must exist and match its sha256."""
        entry = self.entry(model_id)
        folder = self.location(model_id)
        if not verify:
            return folder
        if not (folder / "config.json").exists():
            how = "run `interp train` to build it" if entry.recipe else "check its 'path'"
            raise CheckpointError(f"manifest entry '{model_id}': no checkpoint at {folder} ({how})")
        if entry.sha256 is not None:
            actual = sha256_of(folder / "model.safetensors")
            if actual != entry.sha256:
                raise CheckpointError(
                    f"manifest entry '{model_id}': model.safetensors has sha256 {actual}, "
                    f"the manifest expects {entry.sha256}"
                )
        return folder


PACKAGE_SCHEME = "package://"


def declared_labels(entry: ModelEntry, manifest: "Manifest") -> list[str] | None:
    """The label names an entry's model will have: its task's for a recipe, those of its
    config.json (through `label_map`) for an existing checkpoint; None when not yet known."""
    if entry.recipe is not None:
        return list(get_task(entry.task).labels)
    try:
        config = json.loads((manifest.location(entry.id) / "config.json").read_text())
    except (OSError, ValueError, CheckpointError):
        return None
    if not isinstance(config, dict):
        return None
    if isinstance(config.get("labels"), list):
        labels = [str(x) for x in config["labels"]]
    elif isinstance(config.get("id2label"), dict):
        id2label = config["id2label"]
        try:
            labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
        except ValueError:
            return None
    else:
        return None
    return [entry.label_map.get(label, label) for label in labels]


def _kd_problems(student: ModelEntry, teacher: ModelEntry, field: str, manifest) -> list[str]:
    """A student distils from its teacher's logits: same task and the same labels in order."""
    if student.task != teacher.task:
        return [
            f"manifest entry '{student.id}' ({student.task}) distils from {field} "
            f"'{teacher.id}' ({teacher.task}): a student and its teacher need the same task"
        ]
    problems = []
    ours, theirs = declared_labels(student, manifest), declared_labels(teacher, manifest)
    if ours is not None and theirs is not None and ours != theirs:
        problems.append(
            f"manifest entry '{student.id}' (labels {ours}) distils from {field} "
            f"'{teacher.id}' (labels {theirs}): the label sets must be the same, in order "
            "(a label_map on the teacher's entry can rename them)"
        )
    mine, yours = _vocabulary(student), _vocabulary(teacher)
    if mine is not None and yours is not None and mine != yours:
        problems.append(
            f"manifest entry '{student.id}' ({mine} tokenizer) distils from {field} "
            f"'{teacher.id}' ({yours} tokenizer): both must read the same token ids"
        )
    return problems


def _vocabulary(entry: ModelEntry) -> str | None:
    """Which tokenizer a recipe's model gets: the pretrained encoder's, or its task's."""
    if entry.recipe is None or get_task(entry.task).modality != "text":
        return None
    arch = entry.recipe.arch
    if isinstance(arch, str) and arch.startswith("minilm-"):
        return "MiniLM"
    return f"{entry.task} word-level"


def package_path(path: str, model_id: str) -> Path:
    """Resolve `package://NAME/SUB/PATH` to a folder inside the installed package NAME."""
    package, _, inner = path[len(PACKAGE_SCHEME) :].partition("/")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise CheckpointError(
            f"manifest entry '{model_id}': package '{package}' is not installed"
        ) from None
    return Path(str(root)) / inner


MAX_ENTRIES = 20_000  # models and pairs of one manifest after expansion


def sweep_size(sweep: Sweep) -> int:
    """How many models and pairs a sweep expands to, counted before anything is built:
    per combination a teacher, a KD student, a non-KD student and a pair, plus a bias model
    per training-set size, each in every seed."""
    grid = len(sweep.methods) * len(sweep.teachers) * len(sweep.students) * len(sweep.train_sizes)
    return (4 * grid + len(sweep.train_sizes)) * len(sweep.seeds)


def expand_sweeps(raw: dict) -> dict:
    """Add every sweep's grid of entries and pairs to the raw manifest (see `Sweep`)."""
    sweeps = raw.get("sweeps") or []
    if not isinstance(sweeps, list) or not sweeps:
        return raw
    models = list(raw.get("models") or []) if isinstance(raw.get("models"), list) else []
    pairs = list(raw.get("pairs") or []) if isinstance(raw.get("pairs"), list) else []
    for index, item in enumerate(sweeps):
        try:
            sweep = Sweep.model_validate(item)
        except ValidationError as err:
            name = item.get("id") if isinstance(item, dict) else None
            where = f"sweep '{name}'" if name else f"sweep #{index + 1}"
            problems = _describe(err, {}).replace("top level: ", "")
            raise ManifestError(f"{where}: {problems}") from None
        size = sweep_size(sweep)
        if size > MAX_ENTRIES:
            raise ManifestError(
                f"sweep '{sweep.id}' expands to {size:,} models and pairs, more than "
                f"{MAX_ENTRIES:,}: split it into several sweeps"
            )
        new_models, new_pairs = sweep_entries(sweep)
        models += new_models
        pairs += new_pairs
    return {**raw, "models": models, "pairs": pairs}


def seeded_id(group: str, seed: int | str) -> str:
    """The id of an entry's or pair's copy for one seed (with "": the prefix of every copy)."""
    return f"{group}-s{seed}"


def known_names(name: str, known: list[str], limit: int = 20) -> str:
    """What to tell someone who named an unknown entry, pair or sweep: all the names when they
    are few, else the closest ones."""
    if len(known) <= limit:
        return f"known: {', '.join(known) or 'none'}"
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    nearest = f"closest: {', '.join(close)}; " if close else ""
    return f"{nearest}{len(known)} known, `interp models list` lists them"


def copy_seed(item: ModelEntry | Comparison) -> int | None:
    """The seed of a seeded copy (`poe-s1` -> 1); None for an unseeded entry or pair."""
    if item.seed_group is None:
        return None
    return int(item.id[len(seeded_id(item.seed_group, "")) :])


def expand_seeds(raw: dict) -> dict:
    """Replace every entry and pair that has `seeds` by one copy per seed (see module doc)."""
    models = raw.get("models") or []
    pairs = raw.get("pairs") or []
    if not isinstance(models, list) or not isinstance(pairs, list):
        return raw  # the schema reports the wrong type
    seeded = {
        m["id"]
        for m in models
        if isinstance(m, dict) and "seeds" in m and isinstance(m.get("id"), str)
    }

    def rename(ref, seed):
        return seeded_id(ref, seed) if ref in seeded else ref

    def copies(item: dict, refs: dict) -> list[dict]:
        if not isinstance(item, dict) or "seeds" not in item:
            return [item]
        if not isinstance(item.get("id"), str):
            raise ManifestError(
                f"an entry with 'seeds' has no 'id' (it has {sorted(map(str, item))}); "
                "seeded copies are named <id>-s<seed>"
            )
        seeds = item["seeds"]
        # bool is an int in Python: `seeds: [true]` is not a seed
        if (
            not isinstance(seeds, list)
            or not seeds
            or not all(type(s) is int and s >= 0 for s in seeds)
        ):
            raise ManifestError(
                f"'{item.get('id')}': field 'seeds' must be a non-empty list of whole numbers "
                f">= 0, got {seeds!r}"
            )
        if len(set(seeds)) != len(seeds):
            raise ManifestError(f"'{item.get('id')}': field 'seeds' repeats a seed: {seeds}")
        out = []
        for seed in seeds:
            copy = {k: v for k, v in item.items() if k != "seeds"}
            copy["id"], copy["seed_group"] = seeded_id(item["id"], seed), item["id"]
            for container, fields in refs.items():
                target = copy if container is None else dict(copy.get(container) or {})
                for field in fields:
                    if isinstance(target.get(field), str):
                        target[field] = rename(target[field], seed)
                    elif isinstance(target.get(field), list):
                        target[field] = [
                            rename(r, seed) if isinstance(r, str) else r for r in target[field]
                        ]
                if container is not None and container in copy:
                    if container == "recipe":
                        target["seed"] = seed
                    copy[container] = target
            out.append(copy)
        return out

    model_refs = {"recipe": ("teacher", "bias_model", "assistant")}
    pair_refs = {None: ("teacher", "student", "baseline", "controls")}
    return {
        **raw,
        "models": [c for m in models for c in copies(m, model_refs)],
        "pairs": [c for p in pairs for c in copies(p, pair_refs)],
    }


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file to hash")
    return sha256_file(path)


def _describe(err: ValidationError, raw: dict) -> str:
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
