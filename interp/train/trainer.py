"""The training loop: AdamW with warm-up, seeded batch order, atomic checkpoints, resumption.

The batch at step s depends only on (seed, s), and the optimizer state is checkpointed with the
weights, so a run interrupted at any point and started again ends with the same weights as an
uninterrupted run (on CPU, bit for bit).

The resumable state is one safetensors file (weights, optimizer moments, and the step counter
and settings in its metadata), written atomically beside the checkpoint folder in
`.partial/<name>.safetensors`; the finished checkpoint folder is written elsewhere and moved
into place whole, so a checkpoint folder is either complete or absent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from interp.errors import CheckpointError, TrainingError
from interp.inputs import EncodedSet
from interp.io import write_folder
from interp.models import Batch, HookedClassifier, save_checkpoint
from interp.models.weights import read_safetensors, read_safetensors_metadata, write_safetensors

PARTIAL_DIR = ".partial"
STATE_KEY = "interp_train_state"
Objective = Callable[[Tensor, Tensor, Tensor], Tensor]  # (logits, gold ids, example ids) -> loss
# (model, batch rows, step) -> (logits, extra loss): a forward pass that adds a loss of its own
Guide = Callable[[HookedClassifier, Batch, int], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 250
    eval_every: int = 0  # 0: evaluate at the end only

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then linear decay to zero at the last step."""
        warmup = max(1, round(self.warmup_fraction * self.steps))
        if step < warmup:
            return self.lr * (step + 1) / warmup
        return self.lr * max(0.0, (self.steps - step) / max(1, self.steps - warmup))


def batch_indices(step: int, n: int, cfg: TrainConfig) -> Tensor:
    """Example indices of the batch at `step`: a fresh seeded permutation every epoch."""
    per_epoch = max(1, n // cfg.batch_size)
    epoch, position = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    start = position * cfg.batch_size
    return order[start : start + cfg.batch_size]


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def state_path_for(out_dir: str | Path) -> Path:
    """Where the resumable state of the checkpoint folder `out_dir` lives."""
    out_dir = Path(out_dir)
    return out_dir.parent / PARTIAL_DIR / f"{out_dir.name}.safetensors"


# What a saved state belongs to: a state saved under another recipe, other data or other
# inputs (teacher, bias model) is not resumed.
STATE_OWNER_KEYS = ("recipe", "data", "inputs", "init", "guidance")


def state_owner(train_info: dict | None) -> str:
    """A fingerprint of the build a training state belongs to."""
    owner = {k: (train_info or {}).get(k) for k in STATE_OWNER_KEYS}
    return hashlib.sha256(json.dumps(owner, sort_keys=True, default=str).encode()).hexdigest()


def _save_state(
    path: Path, model, optimizer, step: int, cfg: TrainConfig, history: dict, owner: str
):
    """Weights, optimizer moments and progress in one file, written atomically."""
    state = optimizer.state_dict()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
    info = {
        "step": step,
        "config": dataclasses.asdict(cfg),
        "param_groups": state["param_groups"],
        "history": history,
        "owner": owner,
    }
    write_safetensors(path, tensors, metadata={STATE_KEY: json.dumps(info)})


def _load_state(
    path: Path, model, optimizer, cfg: TrainConfig, owner: str
) -> tuple[int, dict] | None:
    """The step and history of the saved state, loaded into `model` and `optimizer`; None (the
    file removed, with a line saying so) when it belongs to another recipe, data or inputs."""
    try:
        info = json.loads(read_safetensors_metadata(path)[STATE_KEY])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{path}: unreadable training state ({err}); delete it to start afresh"
        ) from None
    if info.get("owner") != owner:
        print(
            f"  {path.name}: the saved training state (step {info.get('step')}) was made with "
            "another recipe, data or inputs; discarded, training starts afresh",
            file=sys.stderr,
        )
        path.unlink(missing_ok=True)
        return None
    if info["config"] != dataclasses.asdict(cfg):
        raise CheckpointError(
            f"{path}: the interrupted run used another training configuration "
            f"({info['config']}); delete this file to start afresh"
        )
    tensors = read_safetensors(path)
    model.load_state_dict(
        {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    )
    optim_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": info["param_groups"]})
    return info["step"], info["history"]


def train(
    model: HookedClassifier,
    data: EncodedSet,
    objective: Objective,
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    evaluate: Callable[[HookedClassifier], dict] | None = None,
    train_info: dict | None = None,
    progress: bool = True,
    device: str = "cpu",
    after_step: Callable[[int], None] | None = None,
    guide: Guide | None = None,
) -> dict:
    """Train `model` on `data` with `objective`; returns a summary (loss, history, speed).

    With `guide`, each step's forward pass is the guide's, and its extra loss (e.g. circuit-
    guided distillation, `interp.train.guided`) is added to the objective.

    With `out_dir`, the training state is checkpointed atomically every `checkpoint_every`
    steps (`state_path_for(out_dir)`), a run started again resumes from it, and the finished
    model is written to `out_dir` as a whole (with `train_info` and the summary in train.json).
    A loss that is not finite stops training with a TrainingError naming the step; the last
    saved state stays for inspection.
    """
    if len(data) < cfg.batch_size:
        raise ValueError(f"{len(data)} examples are fewer than one batch of {cfg.batch_size}")
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    state_path = state_path_for(out_dir) if out_dir is not None else None
    owner = state_owner(train_info)
    start, history = _resumed(state_path, model, optimizer, cfg, owner)
    labels = data.label_ids
    started = time.perf_counter()
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        disable=not progress,
        desc=(train_info or {}).get("id", "train"),
        unit="step",
        leave=False,
    )
    running = math.nan
    saved_step = start
    for step in range(start, cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(step)
        index = batch_indices(step, len(data), cfg)
        rows = data.rows(index).to(device)
        if guide is None:
            logits, extra = model(rows), 0.0
        else:
            logits, extra = guide(model, rows, step)
        loss = objective(logits, labels[index].to(device), index) + extra
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _diverged(value, step, saved_step, state_path, train_info)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        running = value if math.isnan(running) else 0.98 * running + 0.02 * value
        done = step + 1
        if done % 50 == 0 or done == cfg.steps:
            history["loss"].append([done, running])
        if evaluate is not None and cfg.eval_every and done % cfg.eval_every == 0:
            model.eval()
            history["eval"].append({"step": done, **evaluate(model)})
            model.train()
        if state_path is not None and done % cfg.checkpoint_every == 0 and done < cfg.steps:
            _save_state(state_path, model, optimizer, done, cfg, history, owner)
            saved_step = done
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", lr=f"{cfg.lr_at(step):.1e}")
        if after_step is not None:
            after_step(done)
    bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    summary = {
        "steps": cfg.steps,
        "resumed_from": start,
        "final_loss": running,
        "seconds": seconds,
        "steps_per_second": (cfg.steps - start) / seconds if seconds > 0 else math.nan,
        "history": history,
        "train_config": dataclasses.asdict(cfg),
    }
    if evaluate is not None:
        summary["eval"] = evaluate(model)
    if out_dir is not None:
        _save_finished(model, out_dir, {**(train_info or {}), **summary}, state_path)
    return summary


def _resumed(state_path, model, optimizer, cfg: TrainConfig, owner) -> tuple[int, dict]:
    """The step and history to go on from: a saved state of this run, or a fresh start."""
    if state_path is not None and state_path.exists():
        loaded = _load_state(state_path, model, optimizer, cfg, owner)
        if loaded is not None:
            return loaded
    return 0, {"loss": [], "eval": []}


def _diverged(value: float, step: int, saved_step: int, state_path, train_info) -> TrainingError:
    """The error for a loss that is not finite, naming the step and the state kept."""
    name = (train_info or {}).get("id", "training")
    kept = (
        f"; the state of step {saved_step} is kept at {state_path}"
        if state_path and state_path.exists()
        else ""
    )
    return TrainingError(f"{name}: the loss became {value} at step {step + 1}{kept}")


def _save_finished(model, out_dir, info: dict, state_path: Path) -> None:
    """The finished model written as a whole, then its resumable state removed."""
    write_folder(out_dir, lambda folder: save_checkpoint(model, folder, info))
    state_path.unlink(missing_ok=True)
