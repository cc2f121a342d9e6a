"""ClassifierConfig: the architecture of a HookedClassifier, validated and JSON round-trippable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from interp.errors import ConfigError
from interp.io import read_text_bounded

FORMAT_NAME = "interp-classifier"


MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes


class RelativeAttention(BaseModel):
    """DeBERTa's disentangled attention: besides content-to-content, the query's content
    against the keys' relative positions (`c2p`) and the keys' content against the queries'
    relative positions (`p2c`), from one table of relative-position embeddings."""

    model_config = ConfigDict(extra="forbid")

    span: int = Field(ge=1)  # relative distances -span..span-1 index the table's 2*span rows
    buckets: int = Field(default=0, ge=0)  # log buckets beyond buckets/2 (0: none)
    max_distance: int = Field(ge=1)  # the largest distance the log buckets reach
    terms: list[Literal["c2p", "p2c"]] = ["c2p", "p2c"]
    share_keys: bool = True  # positions projected by the content query/key weights
    norm_table: bool = True  # a LayerNorm over the table


class ClassifierConfig(BaseModel):
    """Architecture of an encoder classifier.

    The fields `n_layers`, `n_heads`, `d_model`, `d_head`, `device` and `n_key_value_heads` carry
    TransformerLens names, so that functions written for TransformerLens models (for example
    `transformer_lens.patching`) read them from `model.cfg` unchanged. `use_attn_result` and
    `use_split_qkv_input` switch on the opt-in hooks `attn.hook_result` and `hook_{q,k,v}_input`.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    format: Literal["interp-classifier"] = FORMAT_NAME
    modality: Literal["text", "vision"] = "text"
    n_layers: int = Field(ge=1)
    d_model: int = Field(ge=1)
    n_heads: int = Field(ge=1)
    d_head: int | None = Field(default=None, ge=1)
    d_mlp: int | None = Field(default=None, ge=1)
    norm: Literal["pre", "post"] = "pre"
    act_fn: Literal["gelu", "gelu_new", "relu", "silu"] = "gelu"
    layer_norm_eps: float = Field(default=1e-5, gt=0)
    # The head on the final [CLS] vector: BERT's pooler (dense + tanh), DistilBERT's (dense +
    # ReLU), ELECTRA's and DeBERTa's (dense + GELU), ModernBERT's (dense + GELU + LayerNorm),
    # none; or DeiT's two linear heads on [CLS] and the distillation token, averaged.
    head: Literal[
        "bert_pooler", "distilbert", "gelu_pooler", "norm_pooler", "linear", "deit_distilled"
    ] = "linear"
    labels: list[str] = Field(min_length=2)
    dropout: float = Field(default=0.0, ge=0, lt=1)

    # Text front end.
    vocab_size: int | None = Field(default=None, ge=1)
    max_positions: int = Field(default=128, ge=1)
    n_token_types: int = Field(default=2, ge=0)
    pad_token_id: int = Field(default=0, ge=0)
    positions: Literal["absolute", "roberta", "none"] = "absolute"
    # Word embeddings narrower than d_model, projected up: before the embedding norm (DeBERTa,
    # no bias) or after it (ELECTRA, with bias).
    d_embed: int | None = Field(default=None, ge=1)
    embed_projection: Literal["before_norm", "after_norm"] | None = None
    # DeBERTa masks padded queries as well as padded keys (their rows attend uniformly) and
    # zeroes the padded positions' embeddings.
    mask_queries: bool = False
    # The divisor of the attention scores; default sqrt(d_head). DeBERTa divides by
    # sqrt(d_head * (1 + number of relative terms)) whether or not relative attention is on.
    attention_scale: float | None = Field(default=None, gt=0)
    relative_attention: RelativeAttention | None = None
    # ModernBERT: a pre-norm encoder whose embeddings are normalised too and whose first layer
    # reads them without its attention norm; a gated MLP (act(x W_gate) * x W_in); rotary
    # positions with a base per layer; a window per layer (0: global attention, w: |i - j| <= w).
    embed_norm: bool = False
    first_attention_norm: bool = True
    gated_mlp: bool = False
    rotary_theta: list[float] | None = None
    sliding_window: list[int] | None = None

    # Vision front end: square images cut into square patches, a learned [CLS] vector in front.
    image_size: int | None = Field(default=None, ge=1)
    patch_size: int | None = Field(default=None, ge=1)
    n_channels: int = Field(default=3, ge=1)
    distillation_token: bool = False  # DeiT: a learned vector after [CLS], before the patches

    # TransformerLens run-time fields (not architecture; kept out of saved configs).
    device: str = Field(default="cpu", exclude=True)
    n_key_value_heads: int | None = Field(default=None, exclude=True)
    use_attn_result: bool = Field(default=False, exclude=True)
    use_split_qkv_input: bool = Field(default=False, exclude=True)

    @model_validator(mode="after")
    def _fill_and_check(self) -> "ClassifierConfig":
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(
                    f"d_model ({self.d_model}) is not divisible by n_heads ({self.n_heads}); "
                    "give d_head explicitly"
                )
            object.__setattr__(self, "d_head", self.d_model // self.n_heads)
        if self.d_mlp is None:
            object.__setattr__(self, "d_mlp", 4 * self.d_model)
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct, got {self.labels}")
        for name in ("rotary_theta", "sliding_window"):
            value = getattr(self, name)
            if value is not None and len(value) != self.n_layers:
                raise ValueError(f"{name} needs one value per layer ({self.n_layers})")
        if (self.d_embed is None) != (self.embed_projection is None):
            raise ValueError("d_embed and embed_projection go together")
        if self.head == "deit_distilled" and not self.distillation_token:
            raise ValueError("head 'deit_distilled' reads the distillation token; set it")
        if self.modality == "text":
            if self.vocab_size is None:
                raise ValueError("a text model needs vocab_size")
            if self.pad_token_id >= self.vocab_size:
                raise ValueError(
                    f"pad_token_id ({self.pad_token_id}) is outside the vocabulary "
                    f"(vocab_size {self.vocab_size})"
                )
        else:
            if self.image_size is None or self.patch_size is None:
                raise ValueError("a vision model needs image_size and patch_size")
            if self.image_size % self.patch_size:
                raise ValueError(
                    f"image_size ({self.image_size}) is not divisible by patch_size "
                    f"({self.patch_size})"
                )
        return self

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def n_patches(self) -> int:
        if self.modality != "vision":
            raise ConfigError("n_patches is defined for vision models only")
        return (self.image_size // self.patch_size) ** 2

    @property
    def n_special(self) -> int:
        """Learned vectors in front of an image's patches: [CLS] (and DeiT's distillation token)."""
        return 1 + int(self.distillation_token)

    @property
    def n_positions(self) -> int:
        """Number of learned position embeddings (the longest input of a text model)."""
        return self.n_patches + self.n_special if self.modality == "vision" else self.max_positions

    @property
    def readout_positions(self) -> int:
        """How many leading positions of the last layer reach the head (DeiT's distilled head
        reads [CLS] and the distillation token)."""
        return 2 if self.head == "deit_distilled" else 1

    @property
    def embed_width(self) -> int:
        return self.d_embed or self.d_model

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "ClassifierConfig":
        """Validate `data`, turning a pydantic error into one ConfigError that names each field."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError(f"{source}: {describe_validation_error(err)}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "ClassifierConfig":
        path = Path(path)
        try:
            data = json.loads(read_text_bounded(path, MAX_CONFIG_BYTES, "config file"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not valid JSON ({err})") from None
        except ValueError as err:  # not a regular file, or too large
            raise ConfigError(str(err)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path))


def describe_validation_error(err: ValidationError) -> str:
    """One line per problem: `field 'x': message (got ...)`."""
    parts = []
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"]) or "(whole object)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        got = problem.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        parts.append(f"field '{field}': {message}{got_text}")
    return "; ".join(parts)
