"""The localisation: CKA, ridge maps, identity stitching, probes, and a student built by hand
whose signal is destroyed in one known block."""

import copy
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from interp.inputs import encode_examples
from interp.localise import LocaliseModels, localise
from interp.localise.probing import held_out_splits, probe_curve
from interp.localise.similarity import AffineMap, linear_cka, r_squared
from interp.localise.stitching import StitchMaps, mapped_stream
from interp.localise.streams import run_on, run_streams, stream_of
from interp.models import ClassifierConfig, HookedClassifier
from probes.tasks import get_task

LABELS = ["entailment", "neutral", "contradiction"]


def test_cka_of_a_rotated_scaled_shifted_copy_is_one():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 12, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(12, 12, generator=generator))
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(x, torch.randn(200, 12, generator=generator)) < 0.2
    assert np.isnan(linear_cka(x, torch.ones(200, 3)))


def test_a_ridge_map_recovers_an_affine_relation_and_its_r2():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(500, 10, generator=generator)
    weight, bias = torch.randn(10, 6, generator=generator), torch.randn(6, generator=generator)
    fitted = AffineMap.fit(x[:400], x[:400] @ weight + bias)
    assert r_squared(fitted(x[400:]), x[400:] @ weight + bias) > 0.999
    noise = AffineMap.fit(x[:400], torch.randn(400, 6, generator=generator))
    assert r_squared(noise(x[400:]), torch.randn(100, 6, generator=generator)) < 0.1


def _nli_bench():
    return get_task("nli").benchmark(
        {"n_train": 300, "n_in_distribution": 200, "n_per_subcase": 8, "n_negation": 60}
    )


def _model(n_layers: int, seed: int) -> HookedClassifier:
    tokenizer = get_task("nli").tokenizer()
    cfg = ClassifierConfig(
        n_layers=n_layers,
        d_model=32,
        n_heads=4,
        d_mlp=64,
        labels=LABELS,
        vocab_size=tokenizer.get_vocab_size(),
        max_positions=64,
        norm="pre",
    )
    return HookedClassifier(cfg, seed=seed, tokenizer=tokenizer).eval()


def test_a_model_stitched_to_itself_through_the_identity_gives_its_own_logits():
    model = _model(3, seed=0)
    examples = _nli_bench().suites["in_distribution"].examples[:20]
    data = encode_examples(model, examples, with_labels=False)
    index = torch.arange(len(data))
    streams = run_streams(model, data, index)
    assert streams.resid.shape[0] == model.cfg.n_layers + 1
    identity = AffineMap(torch.eye(32, dtype=torch.float64), torch.zeros(32, dtype=torch.float64))
    for stream in range(model.cfg.n_layers + 1):
        maps = StitchMaps(readout={(stream, stream): identity}, tokens={(stream, stream): identity})
        resid = mapped_stream(maps, (stream, stream), streams, streams)
        logits = run_on(model, data.rows(index), stream, resid)
        torch.testing.assert_close(logits, streams.logits, atol=1e-5, rtol=0)
        alone = stream_of(model, data.rows(index), stream)  # the blocks before it only
        torch.testing.assert_close(alone, streams.resid[stream], atol=1e-6, rtol=0)


def test_a_probe_decodes_a_planted_label_and_reaches_chance_on_shuffled_labels():
    rng = np.random.default_rng(0)
    labels = rng.choice(["a", "b"], 600)
    features = rng.normal(size=(600, 8))
    features[:, 0] += np.where(labels == "a", 2.0, -2.0)
    readout = torch.from_numpy(np.stack([features, rng.normal(size=(600, 8))]))
    groups = [f"template-{i % 20}" for i in range(600)]
    splits = held_out_splits(groups, np.random.default_rng(1))
    for test in splits:  # whole templates are held out
        held = {g for g, t in zip(groups, test) if t}
        assert held and not held & {g for g, t in zip(groups, test) if not t}
    real, control = probe_curve(readout, list(labels), splits, np.random.default_rng(2))
    assert real[0] > 0.9  # the planted stream
    assert abs(real[1] - 0.5) < 0.1  # a stream without the label
    assert abs(control[0] - 0.5) < 0.1  # shuffled labels: chance, where the label is planted


def _relabelled(examples, teacher, marker):
    """The examples labelled by the teacher's own predictions (so the teacher is right on all
    of them); those holding the marker word are the bias-conflicting ones."""
    data = encode_examples(teacher, examples, with_labels=False)
    logits = run_streams(teacher, data, torch.arange(len(data))).logits
    return [
        replace(
            e,
            label=LABELS[int(i)],
            bias_aligned=marker not in e.premise.split() + e.hypothesis.split(),
        )
        for e, i in zip(examples, logits.argmax(-1))
    ]


def _destroying_student(teacher, marker: str, block: int) -> HookedClassifier:
    """The teacher, except that its block `block` replaces the residual of every input that
    holds the marker word by one fixed vector: whatever the teacher computed for those inputs is
    gone after that block, and nothing changes for the others."""
    student = copy.deepcopy(teacher)
    marker_embedding = student.W_E[student.tokenizer.token_to_id(marker)].detach()
    marked = {}

    def find_marker(embedded, hook):
        marked["rows"] = (embedded == marker_embedding).all(-1).any(-1)

    def destroy(resid, hook):
        resid = resid.clone()
        resid[marked["rows"]] = (
            resid[~marked["rows"]].mean((0, 1)) if (~marked["rows"]).any() else 0.0
        )
        return resid

    student.add_hook("hook_embed", find_marker, is_permanent=True)
    student.add_hook(f"blocks.{block}.hook_resid_post", destroy, is_permanent=True)
    return student


def test_a_signal_destroyed_in_one_student_block_is_located_there():
    """The student is the teacher except that its block 1 wipes the residual of the inputs that
    hold a marker word (the bias-conflicting ones): stitching the teacher's stream into the
    student after block 1 recovers the teacher's answers on them, before it does not."""
    teacher = _model(3, seed=3)
    bench = _nli_bench()
    marker = "not"

    def unmarked(examples):
        return [e for e in examples if marker not in f"{e.premise} {e.hypothesis}".split()]

    pool = unmarked(bench.suites["in_distribution"].examples) + unmarked(bench.train.examples)
    with torch.no_grad():  # balance the teacher's answers over the three labels
        data = encode_examples(teacher, pool, with_labels=False)
        teacher.head.classifier.bias -= run_streams(
            teacher, data, torch.arange(len(data))
        ).logits.mean(0)
    student = _destroying_student(teacher, marker, block=1)
    probe = list(bench.suites["negation"].examples) + list(bench.suites["lexical_overlap"].examples)
    relabel = SimpleNamespace(
        train=SimpleNamespace(
            examples=_relabelled(unmarked(bench.train.examples), teacher, marker)
        ),
        suites={
            "in_distribution": SimpleNamespace(
                examples=_relabelled(
                    unmarked(bench.suites["in_distribution"].examples), teacher, marker
                )
            ),
            "probe": SimpleNamespace(examples=_relabelled(probe, teacher, marker)),
        },
    )
    result = localise(
        LocaliseModels("teacher", teacher, "student", student),
        relabel,
        {"made": ["probe"]},
        key="hand-built",
        n_bootstrap=100,
    )
    made = result.bias["made"]
    assert made.teacher_conflicting == 1.0 and made.difference.low > 0.3
    assert made.located is not None, made.not_located
    assert (made.located.student_stream, made.located.student_block) == (2, 1)
    assert made.located.recovery.value > 0.75 and made.located.recovery.low > 0.5
    assert max(made.recovery[a][1] for a in range(4)) < 0.5  # block 1 still runs: little
    assert made.student_self_control[2] < 0.2 and made.teacher_self_control[2] > 0.6
    assert result.positions == "all" and len(result.cka_readout) == 4
    assert "block 1 discards it" in made.verdict
    carriers = made.carriers  # knocking teacher components out inside the located stitch
    assert carriers.teacher_stream == made.located.teacher_stream >= 2
    assert carriers.recovery == pytest.approx(made.located.recovery.value, abs=0.05)
    assert carriers.units and carriers.recovery_without <= carriers.recovery / 2
    stream = carriers.teacher_stream
    assert set(carriers.single_drops) == {
        unit
        for layer in range(stream)
        for unit in (*(f"a{layer}.h{h}" for h in range(4)), f"m{layer}")
    }
    assert "it is carried by the teacher's" in made.verdict
