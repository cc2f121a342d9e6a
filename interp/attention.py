"""Per-head attention statistics over probe batches (overlap detectors and baselines)."""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp.chunking import batch_chunks
from interp.errors import NotAnalysable
from interp.models import Batch, HookedClassifier
from interp.units import block_hook


def identical_token_mask(batch: Batch, special_ids: list[int]) -> Bool[Tensor, "batch query key"]:
    """query (a hypothesis token) -> key (a premise token with the same id); specials excluded.

    Premise and hypothesis are told apart by `sequence_ids` (0 and 1; what the tokenizer
    encoded each token from), else by `token_type_ids`.
    """
    types = batch.sequence_ids if batch.sequence_ids is not None else batch.token_type_ids
    if types is None:
        raise ValueError(
            "overlap statistics need sequence_ids or token_type_ids to tell premise from hypothesis"
        )
    ids = batch.input_ids
    real = batch.attention_mask.bool() & ~torch.isin(
        ids, torch.tensor(special_ids, device=ids.device)
    )
    hypothesis = real & (types == 1)
    premise = real & (types == 0)
    same = ids[:, :, None] == ids[:, None, :]
    return same & hypothesis[:, :, None] & premise[:, None, :]


@torch.no_grad()
def overlap_attention(
    model: HookedClassifier, batch: Batch, special_ids: list[int]
) -> tuple[Float[Tensor, "layer head"], Float[Tensor, ""]]:
    """Mean attention mass from hypothesis tokens to their identical premise tokens, per head.

    Averaged over hypothesis tokens that have an identical premise token. Also returns the mass
    that uniform attention over the unpadded keys would give, as a baseline.
    """
    batch = batch.to(model.cfg.device)
    mask = identical_token_mask(batch, special_ids)
    queries = mask.any(-1)  # [batch, query]
    if not queries.any():
        raise ValueError("no hypothesis token has an identical premise token in this batch")
    names = [block_hook(layer, "attn.hook_pattern") for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch, names_filter=names)
    scores = [_overlap_mass(cache[name], mask) for name in names]
    keys = batch.attention_mask.sum(-1, keepdim=True).float()  # [batch, 1]
    uniform = ((mask.sum(-1) / keys) * queries).sum() / queries.sum()
    return torch.stack(scores), uniform


def _overlap_mass(
    pattern: Float[Tensor, "batch head query key"], mask: Bool[Tensor, "batch query key"]
) -> Float[Tensor, " head"]:
    """Mean mass to identical premise tokens over the queries that have one."""
    rows = mask.any(-1)[:, None].float()  # [batch, 1, query]
    mass = (pattern * mask[:, None].float()).sum(-1)  # [batch, head, query]
    return (mass * rows).sum((0, 2)) / rows.sum((0, 2))


def real_positions(batch: Batch) -> Tensor:
    """[batch, position]: the unpadded positions (every position of an image)."""
    if batch.attention_mask is None:
        shape = (len(batch), batch.n_positions)
        return torch.ones(shape, dtype=torch.bool, device=batch.pixel_values.device)
    return batch.attention_mask.bool()


def _special_and_negation(
    batch: Batch, special_ids, negation_ids, n_special: int = 1
) -> tuple[Tensor, Tensor]:
    """[batch, position] masks of the special tokens and the negation words; an image's special
    tokens are its first `n_special` positions ([CLS], and DeiT's distillation token), and it
    has no words."""
    if batch.input_ids is None:
        special = torch.zeros_like(real_positions(batch))
        special[:, :n_special] = True
        return special.float(), torch.zeros_like(special)
    ids = batch.input_ids
    is_special = torch.isin(ids, torch.tensor(list(special_ids), device=ids.device)).float()
    is_negation = torch.isin(ids, torch.tensor(list(negation_ids) or [-1], device=ids.device))
    return is_special, is_negation


STATISTICS = ("overlap", "negation", "special", "entropy")


@torch.no_grad()
def head_statistics(
    model: HookedClassifier,
    batch: Batch,
    special_ids: list[int],
    negation_ids: list[int] = (),
    batch_size: int | None = None,
) -> dict[str, Float[Tensor, "layer head"]]:
    """Per-head statistics over a batch of premise/hypothesis pairs or of images.

    - `overlap`: mass from hypothesis tokens to their identical premise tokens;
    - `negation`: mass from every real token to negation-word tokens (examples that have one);
    - `special`: mass to special tokens ([CLS], [SEP]; an image's [CLS]);
    - `entropy`: entropy (nats) of the attention distribution of real query tokens.
    Overlap is NaN for a batch without overlapping tokens, negation for one without negations.
    Each is a mean over query tokens, accumulated over chunks of `batch_size` examples.
    """
    batch = batch.to(model.cfg.device)
    if len(batch) == 0:
        raise ValueError("no examples to compute attention statistics on: the batch is empty")
    totals: dict | None = None
    for part in batch_chunks(model.cfg, batch, batch_size, "attention statistics"):
        chunk = _statistic_sums(model, batch[part], special_ids, negation_ids)
        totals = (
            chunk
            if totals is None
            else {
                name: (totals[name][0] + total, totals[name][1] + count)
                for name, (total, count) in chunk.items()
            }
        )
    undefined = torch.tensor(float("nan"))
    return {
        name: torch.where(count > 0, total / count.clamp_min(1e-12), undefined)
        for name, (total, count) in totals.items()
    }


def _statistic_sums(model, batch: Batch, special_ids, negation_ids) -> dict:
    """Per statistic, ([layer, head] sum over the chunk's query tokens, [layer, head] count)."""
    names = [block_hook(layer, "attn.hook_pattern") for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch, names_filter=names)
    queries = real_positions(batch).float()[:, None]  # [batch, 1, query]
    is_special, is_negation = _special_and_negation(
        batch, special_ids, negation_ids, model.cfg.n_special
    )
    negation_rows = queries * is_negation.any(-1).float()[:, None, None]
    has_sentences = batch.sequence_ids is not None or batch.token_type_ids is not None
    overlap = identical_token_mask(batch, special_ids) if has_sentences else None
    overlap_rows = overlap.any(-1)[:, None].float() if overlap is not None else None
    sums = {name: [] for name in STATISTICS}
    for name in names:
        pattern = cache[name]  # [batch, head, query, key]
        special = (pattern * is_special[:, None, None]).sum(-1)
        # In float64: the float32 log takes a vectorised or a scalar path by where the data
        # lies in memory, which moved the last digit of results.json between processes.
        p64 = pattern.double()
        entropy = -(p64 * p64.clamp_min(1e-12).log()).sum(-1).to(pattern.dtype)
        negation = (pattern * is_negation.float()[:, None, None]).sum(-1)
        sums["special"].append(((special * queries).sum((0, 2)), queries.sum((0, 2))))
        sums["entropy"].append(((entropy * queries).sum((0, 2)), queries.sum((0, 2))))
        sums["negation"].append(((negation * negation_rows).sum((0, 2)), negation_rows.sum((0, 2))))
        if overlap is not None:
            mass = (pattern * overlap[:, None].float()).sum(-1)
            sums["overlap"].append(((mass * overlap_rows).sum((0, 2)), overlap_rows.sum((0, 2))))
        else:
            zero = torch.zeros(model.cfg.n_heads, device=pattern.device)
            sums["overlap"].append((zero, zero))
    heads = model.cfg.n_heads
    return {
        name: (
            torch.stack([t for t, _ in parts]).cpu(),
            torch.stack([c.expand(heads) for _, c in parts]).cpu(),
        )
        for name, parts in sums.items()
    }


@torch.no_grad()
def pattern_divergence(
    teacher: HookedClassifier,
    student: HookedClassifier,
    batch: Batch,
    batch_size: int | None = None,
    student_batch: Batch | None = None,
) -> Float[Tensor, "teacher_head student_head"]:
    """Jensen-Shannon divergence (nats) between the attention patterns of every teacher head and
    every student head on the same inputs, averaged over real query tokens.

    Rows are teacher heads in order (layer-major), columns student heads. With one `batch` both
    models read the same token ids, so they must share a tokenizer. With a `student_batch` (the
    same examples in the same order, encoded by the student's own tokenizer), both models'
    patterns are first pooled from tokens to words (`word_patterns`) and compared word by word,
    averaged over the query words. Streams over chunks of `batch_size`.
    """
    if student_batch is None and teacher.tokenizer is not None and student.tokenizer is not None:
        if teacher.tokenizer.get_vocab() != student.tokenizer.get_vocab():
            raise ValueError(
                "pattern divergence of two models with different tokenizers needs each model's "
                "own encoding of the examples (student_batch), compared word by word"
            )
    if len(batch) == 0:
        raise ValueError("no examples to compare attention patterns on: the batch is empty")
    units = _common_units(teacher, student, batch, student_batch)
    total, weight_total = 0.0, 0.0
    for part in batch_chunks(teacher.cfg, batch, batch_size, "pattern divergence"):
        p, q = _patterns(teacher, batch[part]), _patterns(student, (student_batch or batch)[part])
        if units is None:
            weight = real_positions(batch[part]).float().cpu()  # [batch, query]
        else:
            p, t_words = word_patterns(p, units[0][part])
            q, s_words = word_patterns(q, units[1][part])
            width = min(p.shape[-1], q.shape[-1])
            p, q = p[..., :width, :width], q[..., :width, :width]
            weight = (t_words[:, :width] > 0) & (s_words[:, :width] > 0)
            weight = weight.float()
        total = total + _divergence_sums(p, q, weight)
        weight_total = weight_total + weight.sum()
    return total / weight_total


def _common_units(teacher, student, batch: Batch, student_batch: Batch | None):
    """(teacher units, student units) [batch, pos] when the two models' positions differ and
    attention must be pooled to units both have: words of text in two tokenizations, or an
    image's [CLS], other special tokens and patches (DeiT's distillation token against a ViT);
    None when they read the same positions."""
    if student_batch is not None:
        _check_word_aligned(batch, student_batch)
        return batch.word_ids.cpu(), student_batch.word_ids.cpu()
    t_cfg, s_cfg = teacher.cfg, student.cfg
    if t_cfg.modality != "vision" or t_cfg.n_special == s_cfg.n_special:
        return None
    if t_cfg.n_patches != s_cfg.n_patches:
        raise NotAnalysable(
            f"the teacher cuts images into {t_cfg.n_patches} patches, the student into "
            f"{s_cfg.n_patches}: their attention patterns cannot be compared"
        )
    return image_units(t_cfg, len(batch)), image_units(s_cfg, len(batch))


def image_units(cfg, n_examples: int) -> Tensor:
    """Per position, the unit of `Batch.word_ids` for an image: 0 [CLS], 1 the other special
    tokens, 2 + k the k-th patch."""
    special = [0] + [1] * (cfg.n_special - 1)
    units = torch.tensor(special + list(range(2, 2 + cfg.n_patches)))
    return units.expand(n_examples, -1)


def _check_word_aligned(batch: Batch, student_batch: Batch) -> None:
    if len(batch) != len(student_batch):
        raise ValueError(
            f"the teacher's batch has {len(batch)} examples, the student's {len(student_batch)}: "
            "they must hold the same examples in the same order"
        )
    if batch.word_ids is None or student_batch.word_ids is None:
        raise ValueError("comparing across tokenizers needs batches with word_ids (encode_texts)")
    if not torch.equal(batch.word_ids.amax(1).cpu(), student_batch.word_ids.amax(1).cpu()):
        raise ValueError(
            "the two encodings split some example into different numbers of words: they do not "
            "hold the same examples in the same order"
        )


def _patterns(model: HookedClassifier, batch: Batch) -> Tensor:
    """Every head's attention pattern, layer-major: [batch, heads, query, key] on CPU."""
    names = [block_hook(layer, "attn.hook_pattern") for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch.to(model.cfg.device), names_filter=names)
    return torch.cat([cache[n].cpu() for n in names], dim=1)


def word_patterns(
    pattern: Float[Tensor, "batch head query key"], word_ids: Tensor
) -> tuple[Float[Tensor, "batch head word word"], Tensor]:
    """Attention pooled from tokens to words (`Batch.word_ids`): the mass a word's tokens give
    to each word (summed over the word's key tokens), averaged over the word's query tokens.
    Rows stay distributions. Also returns the number of tokens of each word [batch, word]."""
    n_words = int(word_ids.amax()) + 1
    one_hot = torch.nn.functional.one_hot(word_ids.clamp_min(0), n_words).to(pattern.dtype)
    one_hot = one_hot * (word_ids >= 0).unsqueeze(-1).to(pattern.dtype)  # padding: no word
    to_words = pattern @ one_hot[:, None]  # [batch, head, query, word]
    counts = one_hot.sum(1)  # [batch, word]
    pooled = one_hot.transpose(1, 2)[:, None] @ to_words  # [batch, head, word, word]
    return pooled / counts.clamp_min(1)[:, None, :, None], counts


def _divergence_sums(p: Tensor, q: Tensor, weight: Tensor) -> Tensor:
    """[teacher head, student head] JS divergence between patterns p [batch, teacher heads,
    query, key] and q [batch, student heads, query, key], summed over `weight`ed queries."""
    out = torch.zeros(p.shape[1], q.shape[1])
    log_q = q.clamp_min(1e-12).log()
    for i in range(p.shape[1]):
        a = p[:, i : i + 1]  # [batch, 1, q, k]
        m = 0.5 * (a + q)
        log_m = m.clamp_min(1e-12).log()
        kl_a = (a * (a.clamp_min(1e-12).log() - log_m)).sum(-1)
        kl_b = (q * (log_q - log_m)).sum(-1)
        js = 0.5 * (kl_a + kl_b)  # [batch, student_heads, query]
        out[i] = (js * weight[:, None]).sum((0, 2))
    return out
