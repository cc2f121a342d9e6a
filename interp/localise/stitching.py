"""Stitching: the student run on from its stream l with the teacher's stream L put in its place
through an affine map fitted on in-distribution examples (Lenc and Vedaldi 2015; Bansal et al.
2021). Where the mapped teacher stream makes the student answer bias-conflicting examples as
the teacher does, the teacher's robustness is still in its stream at L and the student's layers
from l on can use it.

Two models that read the same tokens are stitched at every position (one map for the readout
position, one for the others); otherwise at the readout position alone. The same maps, fitted
from a model to itself, are the controls: how far a learned map moves answers by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from interp.inputs import EncodedSet
from interp.localise.similarity import AffineMap
from interp.localise.streams import Streams, chunks, run_on, run_streams
from interp.models import HookedClassifier

MAX_TOKEN_ROWS = 6000  # non-readout positions a token map is fitted on (drawn at random)
TRAIN_STEPS = 40  # steps of the task-loss fine-tuning of each map (batches of the fit set)
TRAIN_LR = 2e-3  # Adam's learning rate for it


@dataclass
class PairedSets:
    """The same examples encoded for the source and the target model (one set when both read
    the same tokens), and whether they are stitched at every position."""

    source: EncodedSet
    target: EncodedSet
    all_positions: bool


@dataclass
class StitchMaps:
    """Affine maps from source stream L to target stream l, at the readout position and (when
    stitched at every position) at the other positions."""

    readout: dict[tuple[int, int], AffineMap] = field(default_factory=dict)
    tokens: dict[tuple[int, int], AffineMap] = field(default_factory=dict)


def paired_streams(
    source: HookedClassifier, target: HookedClassifier, sets: PairedSets, batch_size: int
):
    """(source streams, target streams) chunk by chunk over the paired sets (one run when a
    model is stitched to itself on one set)."""
    same = source is target and sets.source is sets.target
    for index in chunks(len(sets.source), batch_size):
        streams = run_streams(source, sets.source, index)
        yield index, streams, streams if same else run_streams(target, sets.target, index)


def token_positions(keep: Tensor) -> Tensor:
    """[batch, pos] the positions that hold a token, the readout position left out."""
    tokens = keep.clone()
    tokens[:, 0] = False
    return tokens


def remove_offset(reference: Tensor, stitched: Tensor, calibration: slice) -> Tensor:
    """Stitched logits ([..., examples, labels]) moved by their mean difference to the
    unstitched model's logits on the calibration rows: a push that a map gives every input
    alike is not counted as recovery."""
    difference = reference[calibration] - stitched[..., calibration, :]
    return stitched + difference.mean(-2, keepdim=True)


def _token_rows(streams: Streams) -> Tensor:
    """[stream, rows, d] of every non-readout position that holds a token."""
    return streams.resid[:, token_positions(streams.keep)]


def fit_maps(
    source: HookedClassifier,
    target: HookedClassifier,
    sets: PairedSets,
    pairs: list[tuple[int, int]],
    rng: np.random.Generator,
    batch_size: int,
) -> StitchMaps:
    """Ridge maps for each (source stream, target stream) in `pairs`, fitted on `sets`."""
    readout_s, readout_t, tokens_s, tokens_t = [], [], [], []
    for _, s_streams, t_streams in paired_streams(source, target, sets, batch_size):
        readout_s.append(s_streams.readout)
        readout_t.append(t_streams.readout)
        if sets.all_positions:
            tokens_s.append(_token_rows(s_streams))
            tokens_t.append(_token_rows(t_streams))
    x, y = torch.cat(readout_s, 1), torch.cat(readout_t, 1)
    maps = StitchMaps(readout={(a, b): AffineMap.fit(x[a], y[b]) for a, b in pairs})
    if sets.all_positions:
        xt, yt = torch.cat(tokens_s, 1), torch.cat(tokens_t, 1)
        if xt.shape[1] > MAX_TOKEN_ROWS:
            keep = torch.from_numpy(np.sort(rng.choice(xt.shape[1], MAX_TOKEN_ROWS, replace=False)))
            xt, yt = xt[:, keep], yt[:, keep]
        maps.tokens = {(a, b): AffineMap.fit(xt[a], yt[b]) for a, b in pairs}
    return maps


def train_maps(
    source: HookedClassifier,
    target: HookedClassifier,
    sets: PairedSets,
    maps: StitchMaps,
    gold: Tensor,
    batch_size: int,
    seed: int,
    steps: int = TRAIN_STEPS,
) -> None:
    """Fine-tune each ridge map in place with the task's loss (cross-entropy with the gold
    labels of the fit set) through the target's layers after the stitch, the models frozen,
    as model stitching trains its stitching layer (Bansal et al. 2021). The ridge map makes the
    target's stream from the source's; the trained one lets the target's later layers read what
    the source's stream holds of the label, however the two spaces are arranged."""
    device = target.cfg.device
    cached = list(paired_streams(source, target, sets, batch_size))
    frozen = [(p, p.requires_grad) for p in target.parameters()]
    for parameter, _ in frozen:
        parameter.requires_grad_(False)
    target.eval()
    try:
        for pair in maps.readout:
            _train_pair(target, sets, maps, pair, cached, gold, seed, steps, device)
    finally:
        for parameter, flag in frozen:
            parameter.requires_grad_(flag)


def _train_pair(target, sets, maps, pair, cached, gold, seed, steps, device) -> None:
    a, b = pair
    parts = [maps.readout[pair], *([maps.tokens[pair]] if maps.tokens else [])]
    params = [
        t.to(device, torch.float32).clone().requires_grad_()
        for part in parts
        for t in (part.weight, part.bias)
    ]
    optimiser = torch.optim.Adam(params, lr=TRAIN_LR)
    draws = torch.Generator().manual_seed(seed + 7919 * a + 104729 * b)
    for _ in range(steps):
        index, s_streams, t_streams = cached[int(torch.randint(len(cached), (1,), generator=draws))]
        source = s_streams.resid[a].to(device)
        resid = t_streams.resid[b].to(device).clone()
        resid[:, 0] = source[:, 0] @ params[0] + params[1]
        if maps.tokens:
            keep = token_positions(t_streams.keep).to(device)
            resid[keep] = source[keep] @ params[2] + params[3]
        _, additive_mask = target.embed(sets.target.rows(index).to(device))
        logits = target.run_from(b, resid, additive_mask)
        loss = torch.nn.functional.cross_entropy(logits, gold[index].to(device))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for k, part in enumerate(parts):
        part.weight = params[2 * k].detach().double().cpu()
        part.bias = params[2 * k + 1].detach().double().cpu()


def mapped_stream(maps: StitchMaps, pair, source: Streams, target: Streams) -> Tensor:
    """Target stream l with the mapped source stream L in its place (`map_into`)."""
    a, b = pair
    return map_into(maps, pair, source.resid[a], target.resid[b], target.keep)


def map_into(maps: StitchMaps, pair, source: Tensor, target: Tensor, keep: Tensor) -> Tensor:
    """`target` ([batch, pos, d]) with the mapped `source` in its place: the readout position
    always, every other position that holds a token (`keep`) when stitched at every position
    (padding keeps the target's own values, which the attention mask hides)."""
    resid = target.clone()
    resid[:, 0] = maps.readout[pair](source[:, 0])
    if maps.tokens:
        tokens = token_positions(keep)
        resid[tokens] = maps.tokens[pair](source[tokens])
    return resid


@dataclass
class StitchedRun:
    """Logits of the source, the target and each stitch on every example of a set, and the
    readout rows of both models' streams (for held-out R^2, CKA and probes)."""

    source_logits: Tensor
    target_logits: Tensor
    stitched: dict[tuple[int, int], Tensor]
    source_readout: Tensor  # [stream, n, d]
    target_readout: Tensor
    source_tokens: Tensor | None  # [stream, rows, d] (every position, when stitched so)
    target_tokens: Tensor | None


def run_stitched(
    source: HookedClassifier,
    target: HookedClassifier,
    sets: PairedSets,
    maps: StitchMaps,
    batch_size: int,
    keep_tokens: bool = False,
) -> StitchedRun:
    """Every stitch of `maps` run on the examples of `sets` (the target run on from stream l
    on the mapped source stream L); `keep_tokens` keeps every position's streams too."""
    logits: dict = {pair: [] for pair in maps.readout}
    source_logits, target_logits, s_readout, t_readout, s_tokens, t_tokens = [], [], [], [], [], []
    for index, s_streams, t_streams in paired_streams(source, target, sets, batch_size):
        source_logits.append(s_streams.logits)
        target_logits.append(t_streams.logits)
        s_readout.append(s_streams.readout)
        t_readout.append(t_streams.readout)
        if sets.all_positions and keep_tokens:
            s_tokens.append(_token_rows(s_streams))
            t_tokens.append(_token_rows(t_streams))
        for pair in maps.readout:
            resid = mapped_stream(maps, pair, s_streams, t_streams)
            logits[pair].append(run_on(target, sets.target.rows(index), pair[1], resid))
    return StitchedRun(
        source_logits=torch.cat(source_logits),
        target_logits=torch.cat(target_logits),
        stitched={pair: torch.cat(parts) for pair, parts in logits.items()},
        source_readout=torch.cat(s_readout, 1),
        target_readout=torch.cat(t_readout, 1),
        source_tokens=torch.cat(s_tokens, 1) if s_tokens else None,
        target_tokens=torch.cat(t_tokens, 1) if t_tokens else None,
    )
