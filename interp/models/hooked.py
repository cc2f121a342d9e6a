"""HookedClassifier: an encoder classifier with TransformerLens hook points at every activation.

One readable implementation covers the embedded zoo (pre-norm), the BERT family (post-norm:
BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ELECTRA, MiniLM), DeBERTa-v2/v3 (disentangled
attention over relative positions, `interp.models.relative`), ModernBERT (pre-norm, rotary,
local and global layers, gated MLP) and ViT/DeiT (pre-norm). Shapes
use TransformerLens conventions; see docs/hooks.md for the hook vocabulary. Each hook fires
exactly once per forward pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint
from transformer_lens.HookedRootModule import HookedRootModule

from interp.models.batch import Batch
from interp.models.config import ClassifierConfig
from interp.models.relative import query_key_distance, relative_scores
from interp.models.tokenize import encode_texts

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


def affine(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """`x @ weight + bias` as one fused GEMM over the flattened leading axes."""
    flat = torch.addmm(bias, x.reshape(-1, x.shape[-1]), weight)
    return flat.view(*x.shape[:-1], weight.shape[1])


def rotary_angles(n_positions: int, d_head: int, theta: float, device) -> tuple[Tensor, Tensor]:
    """cos and sin [pos, 1, d_head] of rotary positions (rotate-half convention): the pair
    (i, i + d/2) of position p turns by p x theta^(-2i/d), in float32."""
    inv_freq = 1.0 / (
        theta ** (torch.arange(0, d_head, 2, dtype=torch.float, device=device) / d_head)
    )
    angles = torch.arange(n_positions, device=device, dtype=torch.float)[:, None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    return angles.cos(), angles.sin()


def rotate(x: Float[Tensor, "batch pos head d_head"], cos: Tensor, sin: Tensor) -> Tensor:
    """`x` turned by the rotary angles of its positions (the first `x.shape[1]` of cos, sin)."""
    d, n = x.shape[-1], x.shape[1]
    half = x.float()
    rotated_half = torch.cat([-half[..., d // 2 :], half[..., : d // 2]], dim=-1)
    return (half * cos[:n] + rotated_half * sin[:n]).to(x.dtype)


def _is_hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks)


class LayerNorm(nn.Module):
    """LayerNorm with hooks on the scale (std) and the normalised output, as in TransformerLens.

    Unless something hooks the scale, the fused kernel computes the same function.
    """

    def __init__(self, d_model: int, eps: float):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()  # [..., 1]
        self.hook_normalized = HookPoint()  # [..., d_model]

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        if not _is_hooked(self.hook_scale):
            normed = F.layer_norm(x, self.w.shape, self.w, self.b, self.eps)
            return self.hook_normalized(normed)
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale * self.w + self.b)


class Attention(nn.Module):
    """Multi-head self-attention with padding mask; weights stored flat, exposed per head."""

    def __init__(self, cfg: ClassifierConfig, layer: int = 0):
        super().__init__()
        self.cfg = cfg
        self.rotary_theta = cfg.rotary_theta[layer] if cfg.rotary_theta else None
        self.window = cfg.sliding_window[layer] if cfg.sliding_window else 0
        m, h, d = cfg.d_model, cfg.n_heads, cfg.d_head
        # Flat [d_model, heads * d_head] storage makes the no-hook forward one GEMM per projection.
        self.q_weight = nn.Parameter(torch.empty(m, h * d))
        self.k_weight = nn.Parameter(torch.empty(m, h * d))
        self.v_weight = nn.Parameter(torch.empty(m, h * d))
        self.o_weight = nn.Parameter(torch.empty(h * d, m))
        self.q_bias = nn.Parameter(torch.zeros(h * d))
        self.k_bias = nn.Parameter(torch.zeros(h * d))
        self.v_bias = nn.Parameter(torch.zeros(h * d))
        self.b_O = nn.Parameter(torch.zeros(m))
        self.dropout = nn.Dropout(cfg.dropout)
        relative = cfg.relative_attention
        if relative is not None and not relative.share_keys:
            # separate projections of the relative-position table, one per term
            for side in [{"c2p": "k", "p2c": "q"}[term] for term in relative.terms]:
                self.register_parameter(f"pos_{side}_weight", nn.Parameter(torch.empty(m, h * d)))
                self.register_parameter(f"pos_{side}_bias", nn.Parameter(torch.zeros(h * d)))

        self.hook_q = HookPoint()  # [batch, pos, head, d_head]
        self.hook_k = HookPoint()
        self.hook_v = HookPoint()
        if self.rotary_theta is not None:  # q and k after their rotation by position
            self.hook_rot_q = HookPoint()  # [batch, pos, head, d_head]
            self.hook_rot_k = HookPoint()
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]
        self.hook_result = HookPoint()  # [batch, pos, head, d_model], opt-in

    # TransformerLens-shaped views of the weights (writes go through to the parameters).
    @property
    def W_Q(self) -> Float[Tensor, "head d_model d_head"]:
        return self.q_weight.view(self.cfg.d_model, self.cfg.n_heads, -1).permute(1, 0, 2)

    @property
    def W_K(self) -> Float[Tensor, "head d_model d_head"]:
        return self.k_weight.view(self.cfg.d_model, self.cfg.n_heads, -1).permute(1, 0, 2)

    @property
    def W_V(self) -> Float[Tensor, "head d_model d_head"]:
        return self.v_weight.view(self.cfg.d_model, self.cfg.n_heads, -1).permute(1, 0, 2)

    @property
    def W_O(self) -> Float[Tensor, "head d_head d_model"]:
        return self.o_weight.view(self.cfg.n_heads, -1, self.cfg.d_model)

    @property
    def b_Q(self) -> Float[Tensor, "head d_head"]:
        return self.q_bias.view(self.cfg.n_heads, -1)

    @property
    def b_K(self) -> Float[Tensor, "head d_head"]:
        return self.k_bias.view(self.cfg.n_heads, -1)

    @property
    def b_V(self) -> Float[Tensor, "head d_head"]:
        return self.v_bias.view(self.cfg.n_heads, -1)

    def _project(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """[batch, pos, d_model] or [batch, pos, head, d_model] -> [batch, pos, head, d_head]."""
        h = self.cfg.n_heads
        if x.ndim == 4:
            per_head = weight.view(self.cfg.d_model, h, -1).permute(1, 0, 2)
            return torch.einsum("bphm,hmd->bphd", x, per_head) + bias.view(h, -1)
        return affine(x, weight, bias).view(x.shape[0], x.shape[1], h, -1)

    def forward(
        self,
        query_input: Tensor,
        key_input: Tensor,
        value_input: Tensor,
        additive_mask: Float[Tensor, "batch 1 query_pos key_pos"],
        relative_table: Tensor | None = None,
    ) -> Float[Tensor, "batch pos d_model"]:
        """`additive_mask` has one row for all queries, or one per query (DeBERTa);
        `relative_table` is the normalised relative-position table of disentangled attention."""
        q = self.hook_q(self._project(query_input, self.q_weight, self.q_bias))
        k = self.hook_k(self._project(key_input, self.k_weight, self.k_bias))
        v = self.hook_v(self._project(value_input, self.v_weight, self.v_bias))
        if self.rotary_theta is not None:  # keys cover every position the queries have
            cos, sin = rotary_angles(k.shape[1], k.shape[-1], self.rotary_theta, k.device)
            q = self.hook_rot_q(rotate(q, cos, sin))
            k = self.hook_rot_k(rotate(k, cos, sin))
        scale = self.cfg.attention_scale or math.sqrt(self.cfg.d_head)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / scale
        if self.cfg.relative_attention is not None:
            scores = scores + relative_scores(self, q, k, relative_table, scale)
        if additive_mask.shape[2] > 1:  # per-query rows: keep those of the queries computed
            additive_mask = additive_mask[:, :, : q.shape[1]]
        scores = scores + additive_mask
        if self.window:  # local attention: keys beyond the window are masked like padding
            outside = query_key_distance(q.shape[1], k.shape[1], q.device).abs() > self.window
            scores = scores.masked_fill(outside, torch.finfo(scores.dtype).min)
        scores = self.hook_attn_scores(scores)
        pattern = self.hook_pattern(scores.softmax(dim=-1))
        z = self.hook_z(torch.einsum("bhqk,bkhd->bqhd", self.dropout(pattern), v))
        return self.project_out(z)

    def project_out(self, z: Float[Tensor, "batch pos head d_head"]) -> Tensor:
        """The attention output from the heads' outputs (per-head `hook_result` when enabled)."""
        if self.cfg.use_attn_result:
            result = self.hook_result(torch.einsum("bphd,hdm->bphm", z, self.W_O))
            return result.sum(dim=2) + self.b_O
        return affine(z.reshape(z.shape[0], z.shape[1], -1), self.o_weight, self.b_O)


class MLP(nn.Module):
    """act(x W_in) W_out, or gated (TransformerLens's GatedMLP): (act(x W_gate) * x W_in) W_out."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = ACTIVATIONS[cfg.act_fn]
        self.gated = cfg.gated_mlp
        if self.gated:
            self.W_gate = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
            self.b_gate = nn.Parameter(torch.zeros(cfg.d_mlp))
            self.hook_pre_linear = HookPoint()  # [batch, pos, d_mlp]
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp]: what the activation reads
        self.hook_post = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        if not self.gated:
            pre = self.hook_pre(affine(x, self.W_in, self.b_in))
            return affine(self.hook_post(self.act(pre)), self.W_out, self.b_out)
        pre = self.hook_pre(affine(x, self.W_gate, self.b_gate))
        linear = self.hook_pre_linear(affine(x, self.W_in, self.b_in))
        return affine(self.hook_post(self.act(pre) * linear), self.W_out, self.b_out)


class Block(nn.Module):
    """One encoder layer.

    pre-norm:  mid = pre + attn(ln1(pre));      post = mid + mlp(ln2(mid))
    post-norm: mid = ln1(pre + attn(pre));      post = ln2(mid + mlp(mid))
    In both, `hook_resid_post` of layer l equals `hook_resid_pre` of layer l + 1.
    """

    def __init__(self, cfg: ClassifierConfig, layer: int = 0):
        super().__init__()
        self.cfg = cfg
        # ModernBERT's first layer reads the (normalised) embeddings without an attention norm
        unnormed = layer == 0 and not cfg.first_attention_norm
        self.ln1 = None if unnormed else LayerNorm(cfg.d_model, cfg.layer_norm_eps)
        self.ln2 = LayerNorm(cfg.d_model, cfg.layer_norm_eps)
        self.attn = Attention(cfg, layer)
        self.mlp = MLP(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        for name in (
            "hook_resid_pre",
            "hook_q_input",
            "hook_k_input",
            "hook_v_input",
            "hook_attn_out",
            "hook_resid_mid",
            "hook_mlp_in",
            "hook_mlp_out",
            "hook_resid_post",
        ):
            setattr(self, name, HookPoint())

    def _attention_inputs(self, resid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pre_norm = self.cfg.norm == "pre" and self.ln1 is not None
        if not self.cfg.use_split_qkv_input:
            x = self.ln1(resid) if pre_norm else resid
            return x, x, x
        per_head = resid.unsqueeze(2).expand(-1, -1, self.cfg.n_heads, -1)
        q_in = self.hook_q_input(per_head.clone())
        k_in = self.hook_k_input(per_head.clone())
        v_in = self.hook_v_input(per_head.clone())
        if not pre_norm:
            return q_in, k_in, v_in
        # One ln1 call over [q heads | k heads | v heads] so that its hooks still fire once.
        normed = self.ln1(torch.cat([q_in, k_in, v_in], dim=2))
        return normed.chunk(3, dim=2)

    def forward(
        self,
        resid: Float[Tensor, "batch pos d_model"],
        additive_mask: Tensor,
        first_query_only: bool = False,
        relative_table: Tensor | None = None,
    ) -> Float[Tensor, "batch pos d_model"]:
        """With `first_query_only`, only the readout positions ([CLS], and DeiT's distillation
        token) are computed after the keys and values (its hooks then see those query positions
        alone): enough for a last layer whose output only the head reads."""
        resid = self.hook_resid_pre(resid)
        q_in, k_in, v_in = self._attention_inputs(resid)
        if first_query_only:
            keep = self.cfg.readout_positions
            q_in, resid = q_in[:, :keep], resid[:, :keep]
        attn_out = self.attn(q_in, k_in, v_in, additive_mask, relative_table)
        attn_out = self.hook_attn_out(self.dropout(attn_out))
        return self.after_attention(resid, attn_out)

    def after_attention(self, resid: Tensor, attn_out: Tensor) -> Tensor:
        """The rest of the layer from its residual input and attention output."""
        pre_norm = self.cfg.norm == "pre"
        resid_mid = self.hook_resid_mid(
            resid + attn_out if pre_norm else self.ln1(resid + attn_out)
        )
        mlp_in = self.hook_mlp_in(resid_mid)
        mlp_out = self.hook_mlp_out(
            self.dropout(self.mlp(self.ln2(mlp_in) if pre_norm else mlp_in))
        )
        return self.after_mlp(resid_mid, mlp_out)

    def after_mlp(self, resid_mid: Tensor, mlp_out: Tensor) -> Tensor:
        """The layer's output from its mid residual and MLP output."""
        if self.cfg.norm == "pre":
            return self.hook_resid_post(resid_mid + mlp_out)
        return self.hook_resid_post(self.ln2(resid_mid + mlp_out))


POOLER_ACTIVATIONS = {
    "bert_pooler": torch.tanh,
    "distilbert": F.relu,
    "gelu_pooler": F.gelu,
    "norm_pooler": F.gelu,
}


class ClassificationHead(nn.Module):
    """A pooler on [CLS] (dense, then tanh for BERT, ReLU for DistilBERT, GELU for ELECTRA and
    DeBERTa) or none, then linear; DeiT's distilled head adds a linear head on the
    distillation token and averages the two."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.kind = cfg.head
        if cfg.head in POOLER_ACTIVATIONS:
            self.pooler = nn.Linear(cfg.d_model, cfg.d_model)
        if cfg.head == "norm_pooler":
            self.pooler_ln = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.classifier = nn.Linear(cfg.d_model, cfg.n_labels)
        if cfg.head == "deit_distilled":
            self.distillation_classifier = nn.Linear(cfg.d_model, cfg.n_labels)
        self.dropout = nn.Dropout(cfg.dropout)

    def pool(self, cls: Tensor) -> Tensor:
        if self.kind == "norm_pooler":
            return self.pooler_ln(POOLER_ACTIVATIONS[self.kind](self.pooler(cls)))
        if self.kind in POOLER_ACTIVATIONS:
            return POOLER_ACTIVATIONS[self.kind](self.pooler(cls))
        return cls


class HookedClassifier(HookedRootModule):
    """Encoder classifier with TransformerLens hooks: `forward(batch) -> logits [batch, n_labels]`.

    `run_with_hooks`, `run_with_cache(names_filter=...)` and `hooks()` come from
    `HookedRootModule`; all of them remove their hooks when they end, also after an exception.
    """

    def __init__(self, cfg: ClassifierConfig, seed: int | None = 0, tokenizer=None):
        super().__init__()
        self.cfg = cfg.model_copy()
        self.tokenizer = tokenizer  # a `tokenizers.Tokenizer` for text models, or None
        self.meta: dict = {}  # provenance (train.json, HF source) carried with the model
        m, e = cfg.d_model, cfg.embed_width
        if cfg.modality == "text":
            self.W_E = nn.Parameter(torch.empty(cfg.vocab_size, e))
            if cfg.n_token_types:
                self.W_token_type = nn.Parameter(torch.empty(cfg.n_token_types, e))
                self.hook_token_type_embed = HookPoint()  # [batch, pos, d_embed]
            self.hook_embed = HookPoint()  # [batch, pos, d_embed]
        else:
            patch_dim = cfg.n_channels * cfg.patch_size**2
            self.W_patch = nn.Parameter(torch.empty(patch_dim, m))
            self.b_patch = nn.Parameter(torch.zeros(m))
            self.cls_vector = nn.Parameter(torch.empty(m))
            if cfg.distillation_token:
                self.distillation_vector = nn.Parameter(torch.empty(m))
            # [batch, pos, d_model]: [CLS] (and the distillation token) first, then the patches
            self.hook_patch_embed = HookPoint()
        if cfg.positions != "none":
            self.W_pos = nn.Parameter(torch.empty(cfg.n_positions, e))
            self.hook_pos_embed = HookPoint()
        self.embed_proj = (
            nn.Linear(e, m, bias=cfg.embed_projection == "after_norm")
            if cfg.embed_projection
            else None
        )
        # Post-norm encoders normalise the embeddings; pre-norm ones normalise before the head.
        norm_width = e if cfg.embed_projection == "after_norm" else m
        self.embed_ln = (
            nn.LayerNorm(norm_width, eps=cfg.layer_norm_eps)
            if cfg.norm == "post" or cfg.embed_norm
            else None
        )
        relative = cfg.relative_attention
        if relative is not None:
            self.relative_table = nn.Parameter(torch.empty(2 * relative.span, m))
            self.relative_ln = (
                nn.LayerNorm(m, eps=cfg.layer_norm_eps) if relative.norm_table else None
            )
        self.ln_final = nn.LayerNorm(m, eps=cfg.layer_norm_eps) if cfg.norm == "pre" else None
        self.embed_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(self.cfg, layer) for layer in range(cfg.n_layers))
        self.head = ClassificationHead(cfg)
        self.hook_cls = HookPoint()  # [batch, d_model]
        self.hook_pooled = HookPoint()  # [batch, d_model]
        self.hook_logits = HookPoint()  # [batch, n_labels]
        self.reset_parameters(seed)
        self.setup()

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = 0) -> None:
        """BERT-style initialisation (normal, std 0.02; zero biases; unit norms), seeded."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        for name, param in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if param.ndim >= 2 or leaf in ("cls_vector", "distillation_vector"):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
            elif leaf in ("w", "weight") and ("ln" in name or "LayerNorm" in name):
                param.fill_(1.0)
            else:
                param.zero_()

    # ------------------------------------------------------------------ device handling
    def to(self, *args, **kwargs) -> "HookedClassifier":
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        super().to(*args, **kwargs)
        if device is not None:
            self.cfg.device = str(device)
        return self

    def cuda(self, device=None) -> "HookedClassifier":
        return self.to(device if device is not None else "cuda")

    def cpu(self) -> "HookedClassifier":
        return self.to("cpu")

    # ------------------------------------------------------------------ forward
    def _as_batch(self, batch, attention_mask, token_type_ids) -> Batch:
        if isinstance(batch, Batch):
            return batch
        if isinstance(batch, dict):
            return Batch(**{k: v for k, v in batch.items() if k in Batch.__dataclass_fields__})
        if isinstance(batch, Tensor):
            if self.cfg.modality == "vision":
                return Batch(pixel_values=batch)
            return Batch(
                input_ids=batch, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
        raise TypeError(f"expected a Batch, a dict or a tensor, got {type(batch).__name__}")

    def _embed_text(self, batch: Batch) -> Tensor:
        ids = batch.input_ids
        if int(ids.max()) >= self.cfg.vocab_size or int(ids.min()) < 0:
            raise ValueError(
                f"token ids must lie in [0, {self.cfg.vocab_size}), got range "
                f"[{int(ids.min())}, {int(ids.max())}]: is the tokenizer the model's own?"
            )
        n_pos = ids.shape[1]
        if self.cfg.positions == "roberta":
            # RoBERTa numbers non-pad tokens from pad_token_id + 1; pads take pad_token_id.
            not_pad = ids.ne(self.cfg.pad_token_id).long()
            position_ids = torch.cumsum(not_pad, dim=1) * not_pad + self.cfg.pad_token_id
            max_pos = int(position_ids.max())
        else:
            position_ids = torch.arange(n_pos, device=ids.device)
            max_pos = n_pos - 1
        if max_pos >= self.cfg.n_positions:
            raise ValueError(
                f"sequence of {n_pos} tokens needs position {max_pos}, but the model has "
                f"{self.cfg.n_positions} positions"
            )
        resid = self.hook_embed(F.embedding(ids, self.W_E))
        if self.cfg.positions != "none":  # "none": positions enter through attention only
            pos = self.W_pos[position_ids]
            # A contiguous copy, so that hooks may write into it in place.
            resid = resid + self.hook_pos_embed(pos.expand_as(resid).contiguous())
        if self.cfg.n_token_types:
            types = batch.token_type_ids
            if types is None:
                types = torch.zeros_like(ids)
            resid = resid + self.hook_token_type_embed(F.embedding(types, self.W_token_type))
        return resid

    def _embed_image(self, batch: Batch) -> Tensor:
        cfg = self.cfg
        x = batch.pixel_values
        expected = (cfg.n_channels, cfg.image_size, cfg.image_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"pixel_values must be [batch, {expected}], got {tuple(x.shape)}")
        p = cfg.patch_size
        patches = F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)  # [b, n_patches, c*p*p]
        tokens = patches @ self.W_patch + self.b_patch
        special = [self.cls_vector]
        if cfg.distillation_token:
            special.append(self.distillation_vector)
        front = torch.stack(special).expand(x.shape[0], -1, -1)
        resid = self.hook_patch_embed(torch.cat([front, tokens], dim=1))
        return resid + self.hook_pos_embed(self.W_pos.expand_as(resid).contiguous())

    def forward(
        self,
        batch: Batch | Tensor | dict,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Float[Tensor, "batch n_labels"]:
        resid, additive_mask = self.embed(self._as_batch(batch, attention_mask, token_type_ids))
        return self.run_from(0, resid, additive_mask)

    def embed(self, batch: Batch) -> tuple[Float[Tensor, "batch pos d_model"], Tensor]:
        """The residual stream entering block 0, and the additive attention mask."""
        batch = batch.to(self.cfg.device)
        if self.cfg.modality == "text":
            if batch.input_ids is None:
                raise ValueError("this is a text model; the batch holds no input_ids")
            resid = self._embed_text(batch)
            keep = batch.attention_mask.bool()
        else:
            if batch.pixel_values is None:
                raise ValueError("this is a vision model; the batch holds no pixel_values")
            resid = self._embed_image(batch)
            keep = torch.ones(resid.shape[:2], dtype=torch.bool, device=resid.device)
        resid = self._normalise_embeddings(resid)
        if self.cfg.mask_queries:
            resid = resid * keep.unsqueeze(-1).to(resid.dtype)
            masked = ~(keep[:, None, :, None] & keep[:, None, None, :])  # [batch, 1, q, k]
        else:
            masked = ~keep[:, None, None, :]
        resid = self.embed_dropout(resid)
        additive_mask = torch.zeros(masked.shape, dtype=resid.dtype, device=resid.device)
        return resid, additive_mask.masked_fill(masked, torch.finfo(resid.dtype).min)

    def _normalise_embeddings(self, resid: Tensor) -> Tensor:
        """The embedding norm of a post-norm encoder, with the projection to d_model of narrow
        embeddings before it (DeBERTa) or after it (ELECTRA)."""
        if self.cfg.embed_projection == "before_norm":
            resid = self.embed_proj(resid)
        if self.embed_ln is not None:
            resid = self.embed_ln(resid)
        if self.cfg.embed_projection == "after_norm":
            resid = self.embed_proj(resid)
        return resid

    def relative_positions(self) -> Tensor | None:
        """The (normalised) relative-position table that disentangled attention reads."""
        if self.cfg.relative_attention is None:
            return None
        if self.relative_ln is None:
            return self.relative_table
        return self.relative_ln(self.relative_table)

    def run_from(
        self,
        layer: int,
        resid: Float[Tensor, "batch pos d_model"],
        additive_mask: Tensor,
        cls_only_last: bool = False,
    ) -> Float[Tensor, "batch n_labels"]:
        """Run blocks `layer`, `layer + 1`, ... and the head on the residual entering `layer`.

        Patching a component of layer l leaves layers before l unchanged, so sweeps start here
        from a cached `hook_resid_pre` instead of recomputing the prefix. With
        `cls_only_last`, the last layer is computed at position 0 only after its keys and values
        (only [CLS] reaches the head), and its hooks see one query position.
        """
        last = self.cfg.n_layers - 1
        table = self.relative_positions()
        for index in range(layer, self.cfg.n_layers):
            first_only = cls_only_last and index == last
            resid = self.blocks[index](
                resid, additive_mask, first_query_only=first_only, relative_table=table
            )
        if self.ln_final is not None:
            resid = self.ln_final(resid)
        cls = self.hook_cls(resid[:, 0])
        pooled = self.hook_pooled(self.head.pool(cls))
        logits = self.head.classifier(self.head.dropout(pooled))
        if self.cfg.head == "deit_distilled":
            logits = (logits + self.head.distillation_classifier(resid[:, 1])) / 2
        return self.hook_logits(logits)

    def run_from_z(
        self,
        layer: int,
        resid: Float[Tensor, "batch pos d_model"],
        z: Float[Tensor, "batch pos head d_head"],
        additive_mask: Tensor,
        cls_only_last: bool = False,
    ) -> Float[Tensor, "batch n_labels"]:
        """Continue a forward pass from the heads' outputs `z` of `layer` (`resid` is its
        `hook_resid_pre`): a head patch need not recompute its layer's queries, keys and values."""
        block = self.blocks[layer]
        if cls_only_last and layer == self.cfg.n_layers - 1:
            keep = self.cfg.readout_positions
            resid, z = resid[:, :keep], z[:, :keep]
        attn_out = block.hook_attn_out(block.dropout(block.attn.project_out(block.attn.hook_z(z))))
        resid = block.after_attention(resid, attn_out)
        return self.run_from(layer + 1, resid, additive_mask, cls_only_last)

    def run_from_mlp_out(
        self,
        layer: int,
        resid_mid: Float[Tensor, "batch pos d_model"],
        mlp_out: Float[Tensor, "batch pos d_model"],
        additive_mask: Tensor,
        cls_only_last: bool = False,
    ) -> Float[Tensor, "batch n_labels"]:
        """Continue a forward pass from the MLP output of `layer` (`resid_mid` is its
        `hook_resid_mid`)."""
        block = self.blocks[layer]
        if cls_only_last and layer == self.cfg.n_layers - 1:
            keep = self.cfg.readout_positions
            resid_mid, mlp_out = resid_mid[:, :keep], mlp_out[:, :keep]
        resid = block.after_mlp(resid_mid, block.hook_mlp_out(mlp_out))
        return self.run_from(layer + 1, resid, additive_mask, cls_only_last)

    # ------------------------------------------------------------------ conveniences
    def set_use_attn_result(self, value: bool) -> None:
        """Compute per-head outputs `blocks.{l}.attn.hook_result` (costs memory)."""
        self.cfg.use_attn_result = value

    def set_use_split_qkv_input(self, value: bool) -> None:
        """Give each head its own copy of the attention input (`hook_{q,k,v}_input`)."""
        self.cfg.use_split_qkv_input = value

    def firing_hook_names(self) -> list[str]:
        """The hook points that fire in a forward pass with the current settings."""
        skip = set()
        if not self.cfg.use_attn_result:
            skip.add("attn.hook_result")
        if not self.cfg.use_split_qkv_input:
            skip.update({"hook_q_input", "hook_k_input", "hook_v_input"})
        return [name for name in self.hook_dict if name.split(".", 2)[-1] not in skip]

    def encode(
        self,
        premises: list[str],
        hypotheses: list[str] | None = None,
        max_length: int | None = None,
    ) -> Batch:
        """Tokenise sentences (or sentence pairs) with the model's own tokenizer into a Batch."""
        if self.tokenizer is None:
            raise ValueError("this model carries no tokenizer")
        return encode_texts(
            self.tokenizer,
            premises,
            hypotheses,
            max_length=max_length or self.cfg.n_positions,
            device=self.cfg.device,
        )
