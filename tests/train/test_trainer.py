"""The training loop: learning happens, interruption resumes to identical weights."""

import pytest
import torch

from interp.errors import CheckpointError, TrainingError
from interp.inputs import encode_examples
from interp.losses import erm_loss
from interp.models import HookedClassifier, load
from interp.train.trainer import TrainConfig, batch_indices, state_path_for, train
from probes.nli import THREE_WAY, NLIConfig, generate, nli_tokenizer
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def data_and_model_factory():
    bench = generate(
        NLIConfig(
            seed=0, n_train=400, n_in_distribution=50, n_per_subcase=2, n_negation=6, n_augment=10
        )
    )
    tokenizer = nli_tokenizer()
    cfg = tiny_config(labels=THREE_WAY, vocab_size=tokenizer.get_vocab_size(), max_positions=64)

    def make():
        return HookedClassifier(cfg, seed=0, tokenizer=tokenizer)

    return encode_examples(make(), bench.train.examples), make


def objective(logits, gold, index):
    return erm_loss(logits, gold)


def test_training_lowers_the_loss(data_and_model_factory):
    data, make = data_and_model_factory
    summary = train(make(), data, objective, TrainConfig(steps=60, batch_size=16), progress=False)
    losses = [value for _, value in summary["history"]["loss"]]
    assert losses[-1] < losses[0]


def interrupted_run(model, data, cfg, out_dir, stop_at: int, train_info=None) -> None:
    """Train until step `stop_at`, then stop as Ctrl-C would (its saved state stays)."""

    def interrupt(step):
        if step == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            model,
            data,
            objective,
            cfg,
            out_dir=out_dir,
            progress=False,
            after_step=interrupt,
            train_info=train_info,
        )


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, data_and_model_factory):
    data, make = data_and_model_factory
    cfg = TrainConfig(steps=24, batch_size=16, checkpoint_every=5)
    interrupted_run(make(), data, cfg, tmp_path / "run", stop_at=13)
    assert state_path_for(tmp_path / "run").exists()
    assert not (tmp_path / "run").exists()  # a checkpoint folder is complete or absent
    summary = train(make(), data, objective, cfg, out_dir=tmp_path / "run", progress=False)
    assert summary["resumed_from"] == 10
    assert not state_path_for(tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".partial", "run"]
    straight = make()
    train(straight, data, objective, cfg, progress=False)
    resumed = load(tmp_path / "run")
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_resuming_with_another_configuration_is_refused(tmp_path, data_and_model_factory):
    data, make = data_and_model_factory

    def interrupt(step):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            make(),
            data,
            objective,
            TrainConfig(steps=20, batch_size=16, checkpoint_every=5),
            out_dir=tmp_path / "run",
            progress=False,
            after_step=interrupt,
        )
    with pytest.raises(CheckpointError, match="another training configuration"):
        train(
            make(),
            data,
            objective,
            TrainConfig(steps=20, batch_size=8, checkpoint_every=5),
            out_dir=tmp_path / "run",
            progress=False,
        )


def test_batches_cover_each_epoch_once_and_depend_on_the_seed():
    cfg = TrainConfig(batch_size=4, seed=1)
    epoch = torch.cat([batch_indices(step, 12, cfg) for step in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))
    other = TrainConfig(batch_size=4, seed=2)
    assert not torch.equal(batch_indices(0, 12, cfg), batch_indices(0, 12, other))


def test_learning_rate_warms_up_then_decays_to_zero():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_fraction=0.1)
    assert cfg.lr_at(0) == pytest.approx(0.1)
    assert cfg.lr_at(9) == pytest.approx(1.0)
    assert cfg.lr_at(55) == pytest.approx(0.5)
    assert cfg.lr_at(99) == pytest.approx(1 / 90)


def test_a_loss_that_is_not_finite_stops_training_naming_the_step(tmp_path, data_and_model_factory):
    data, make = data_and_model_factory
    calls = []

    def exploding(logits, gold, index):
        calls.append(1)
        loss = erm_loss(logits, gold)
        return loss * float("nan") if len(calls) == 8 else loss

    cfg = TrainConfig(steps=20, batch_size=16, checkpoint_every=5)
    with pytest.raises(TrainingError, match="loss became nan at step 8; the state of step 5"):
        train(make(), data, exploding, cfg, out_dir=tmp_path / "run", progress=False)
    assert state_path_for(tmp_path / "run").exists() and not (tmp_path / "run").exists()


def test_a_state_saved_under_other_data_is_discarded_not_resumed(
    tmp_path, data_and_model_factory, capsys
):
    data, make = data_and_model_factory
    cfg = TrainConfig(steps=24, batch_size=16, checkpoint_every=5)
    first = {"recipe": {"loss": "erm"}, "data": {"n_train": 600}}
    interrupted_run(make(), data, cfg, tmp_path / "run", stop_at=13, train_info=first)
    edited = {**first, "data": {"n_train": 500}}
    summary = train(
        make(), data, objective, cfg, out_dir=tmp_path / "run", progress=False, train_info=edited
    )
    assert summary["resumed_from"] == 0
    assert "made with another recipe, data or inputs; discarded" in capsys.readouterr().err
    straight = make()
    train(straight, data, objective, cfg, progress=False)
    rebuilt = load(tmp_path / "run")
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, rebuilt.state_dict()[name]), name
