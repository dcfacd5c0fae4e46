"""Attention maps of our attention block and of nn.MultiheadAttention (also inside
nn.TransformerEncoderLayer, fast path off), each checked against the module's own output;
rollout, per-head entropy and the attention mass on known decisive tokens; `inspect_attention`
(`trainlab inspect attention`) draws and stores them for a Target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.blocks import PatchEmbed
from trainlab.blocks.attention import MultiHeadSelfAttention, additive_mask
from trainlab.errors import ConfigError
from trainlab.inspect.features import KEEP
from trainlab.inspect.probes import eval_mode
from trainlab.inspect.target import SAMPLES, Inspection, Output, Target, study_name, token_rows
from trainlab.models.layers import select_modules
from trainlab.plots import attention as pa
from trainlab.plots import features as pf
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table

ATTENTION_TYPES: tuple[type[nn.Module], ...] = (MultiHeadSelfAttention, nn.MultiheadAttention)
CHECK_TOL = 1e-4  # max |out_proj(weights @ V) - module output| accepted as "the maps explain it"
_MHA_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")


@dataclass
class AttentionMap:
    """One call of one attention module, in eval mode."""

    name: str
    weights: torch.Tensor  # (B, H, T, S) on the CPU; each row a distribution over the S keys
    error: float  # max |out_proj(weights @ V) - the module's own output|; NaN if not checkable


def softmax_weights(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(Q Kᵀ / √d + mask): q (B, H, T, d), k (B, H, S, d), additive mask -> (B, H, T, S)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return (scores if mask is None else scores + mask).softmax(dim=-1)


def attention_maps(
    model: nn.Module, x: torch.Tensor, names: list[str] | None = None, **forward_kwargs: Any
) -> list[AttentionMap]:
    """Run `model(x)` once in eval mode and return every attention call's per-head weights.

    Finds MultiHeadSelfAttention and nn.MultiheadAttention modules (or the modules `names`).
    Ours: Q, K are taken from its projection and the weights recomputed. nn.MultiheadAttention:
    a forward pre-hook asks for per-head weights (`need_weights=True`, what
    nn.TransformerEncoderLayer turns off), with the fused fast path disabled for the call.
    Hooks and the fast-path setting are restored even on error.
    """
    modules = select_modules(model, names, None if names else ATTENTION_TYPES)
    if not modules:
        raise ConfigError(
            "the model has no attention modules (MultiHeadSelfAttention or nn.MultiheadAttention)"
        )
    maps: list[AttentionMap] = []
    handles = []
    fast = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        for name, module in modules.items():
            if isinstance(module, MultiHeadSelfAttention):
                hook: Callable[..., None] = partial(_ours, name, maps)
            elif isinstance(module, nn.MultiheadAttention):
                handles.append(module.register_forward_pre_hook(_ask_weights, with_kwargs=True))
                hook = partial(_torch_mha, name, maps)
            else:
                raise ConfigError(
                    f"{name} is a {type(module).__name__}, not MultiHeadSelfAttention or "
                    "nn.MultiheadAttention"
                )
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        with eval_mode(model):
            model(x, **forward_kwargs)
    finally:
        for handle in handles:
            handle.remove()
        torch.backends.mha.set_fastpath_enabled(fast)
    return maps


def _ours(
    name: str,
    maps: list[AttentionMap],
    module: MultiHeadSelfAttention,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output: Any,
) -> None:
    x = args[0] if args else kwargs["x"]
    mask = args[1] if len(args) > 1 else kwargs.get("mask")
    q, k, v = module.qkv_heads(x)  # each (B, H, T, Dh)
    weights = softmax_weights(q, k, additive_mask(mask, q.dtype))
    b, t, d = x.shape
    recomputed = module.proj((weights @ v).transpose(1, 2).reshape(b, t, d))
    out = output[0] if isinstance(output, tuple) else output
    maps.append(AttentionMap(name, weights.float().cpu(), float((recomputed - out).abs().max())))


def _ask_weights(
    module: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    named = dict(zip(_MHA_ARGS[3:], args[3:], strict=False))  # keep only q, k, v positional
    return args[:3], {**kwargs, **named, "need_weights": True, "average_attn_weights": False}


def _torch_mha(
    name: str,
    maps: list[AttentionMap],
    module: nn.MultiheadAttention,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output: tuple[torch.Tensor, torch.Tensor | None],
) -> None:
    out, weights = output
    if weights is None:
        return
    query, key, value = (args + tuple(kwargs.get(n) for n in _MHA_ARGS[len(args) : 3]))[:3]
    if weights.ndim == 3:  # unbatched input: (H, T, S)
        weights, out = weights.unsqueeze(0), out.unsqueeze(0 if module.batch_first else 1)
        query, key, value = (
            t.unsqueeze(0 if module.batch_first else 1) for t in (query, key, value)
        )
    if not module.batch_first:
        query, key, value, out = (t.transpose(0, 1) for t in (query, key, value, out))
    err = _mha_error(module, query, key, value, weights, out, kwargs)
    maps.append(AttentionMap(name, weights.float().cpu(), err))


def _mha_error(
    m: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    weights: torch.Tensor,
    out: torch.Tensor,
    kwargs: dict[str, Any],
) -> float:
    """Recompute weights from Q, K and the output from weights @ V; max error vs the module's."""
    if m.bias_k is not None or m.add_zero_attn:
        return math.nan
    e, h = m.embed_dim, m.num_heads
    if m._qkv_same_embed_dim:
        wq, wk, wv = m.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    bq, bk, bv = m.in_proj_bias.chunk(3) if m.in_proj_bias is not None else (None, None, None)
    b, t, s = query.shape[0], query.shape[1], key.shape[1]

    def heads(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return nn.functional.linear(x, w, bias).view(b, -1, h, e // h).transpose(1, 2)

    q, k, v = heads(query, wq, bq), heads(key, wk, bk), heads(value, wv, bv)  # (B, H, T|S, Dh)
    mask = torch.zeros(b, 1, t, s, dtype=q.dtype, device=q.device)
    attn_mask = kwargs.get("attn_mask")
    if attn_mask is not None:
        am = _torch_additive(attn_mask, q.dtype)
        mask = mask + (am.view(b, h, t, s) if am.ndim == 3 else am)
    pad = kwargs.get("key_padding_mask")
    if pad is not None:
        mask = mask + _torch_additive(pad, q.dtype).view(b, 1, 1, s)
    mine = softmax_weights(q, k, mask)
    recomputed = m.out_proj((weights @ v).transpose(1, 2).reshape(b, t, e))
    return max(float((mine - weights).abs().max()), float((recomputed - out).abs().max()))


def _torch_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """nn.MultiheadAttention's masks: bool True = may NOT attend -> -inf; float masks as given."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, -math.inf)


def head_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of each head's rows: (B, H, T, S) -> (H,). Uniform rows give log S."""
    p = weights.clamp_min(1e-12)
    return -(weights * p.log()).sum(-1).mean(dim=(0, 2))


def rollout(weights: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) over layers in order: head mean, plus identity for
    the residual path, rows renormalised, multiplied. list of (B, H, T, T) -> (B, T, T)."""
    if not weights:
        raise ValueError("rollout needs at least one layer of weights")
    out: torch.Tensor | None = None
    for w in weights:
        a = w.mean(1)  # (B, T, T)
        a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype)
        a = a / a.sum(-1, keepdim=True)
        out = a if out is None else a @ out
    assert out is not None
    return out


def decisive_mass(
    weights: torch.Tensor, key_mask: torch.Tensor, query: int | None = None
) -> torch.Tensor:
    """Share of attention on decisive keys: weights (B, H, T, S), key_mask (B, S) bool -> (H,).

    `query` picks one query row (the CLS token, 0); None averages over every row.
    """
    w = weights[:, :, query : query + 1] if query is not None else weights
    on = (w * key_mask[:, None, None, :].to(w.dtype)).sum(-1)  # (B, H, T')
    return on.mean(dim=(0, 2))


def chance_mass(key_mask: torch.Tensor) -> float:
    """What uniform attention would put on the decisive keys: mean over samples of k / S."""
    return float(key_mask.float().mean())


def patch_attention(
    weights: torch.Tensor, grid: tuple[int, int], query: int = 0, prefix: int = 1
) -> torch.Tensor:
    """Attention of token `query` over the image patches, as a grid: (B, H, T, T) -> (B, H, gh, gw).

    `prefix` tokens (the CLS token) precede the patches; rows are renormalised over patches.
    """
    row = weights[:, :, query, prefix:]  # (B, H, N)
    row = row / row.sum(-1, keepdim=True).clamp_min(1e-12)
    return row.reshape(*row.shape[:2], *grid)


def prefix_tokens(model: nn.Module) -> int:
    """Tokens before the data tokens (a CLS token): the first `prefix_tokens` attribute found."""
    for m in model.modules():
        value = getattr(m, "prefix_tokens", None)
        if isinstance(value, int):
            return value
    return 0


def _image_title(prefix: int) -> str:
    first = "position 0 is the class token" if prefix == 1 else f"positions 0..{prefix - 1} lead"
    return (
        f"Attention maps per layer and head (input 0, eval mode): {first}, then patches row by "
        "row\neach layer on its own colour scale; white line on the colour bar = uniform attention"
    )


def inspect_attention(
    target: Target, store: Store, budget: str = "quick", patch: int | None = None
) -> Inspection:
    """Per-layer, per-head maps, rollout, entropy; decisive-token mass on sequence tasks; class
    token (or `patch`) attention over the patch grid for images."""
    x = target.dataset.x_test[: SAMPLES[budget]]
    maps = attention_maps(target.model, x)
    layers = [m.name for m in maps]
    weights = [m.weights for m in maps]
    prefix = prefix_tokens(target.model)
    out = Output(
        store,
        "inspect-attention",
        study_name("attention", target),
        {"patch": patch},
        target.runs(),
    )
    tokens = token_rows(target, x[:1])
    t = weights[0].shape[-1]
    mask = target.dataset.extras.get("decisive_mask_test")
    marked = [prefix + int(i) for i in mask[0].nonzero().flatten()] if mask is not None else []
    out.figure(
        pa.plot_attention_grid(
            layers,
            [w[0].numpy() for w in weights],
            tokens[0] if tokens else None,
            highlight=marked if tokens else (),
            title=None if tokens or not prefix else _image_title(prefix),
        ),
        "attention-maps",
        "Attention maps per layer and head (input 0)",
    )
    roll = rollout(weights) if all(w.shape[-1] == t for w in weights) else None
    if roll is not None:
        out.figure(
            pa.plot_rollout(
                roll[0].numpy(),
                tokens[0] if tokens else None,
                title=""
                if tokens or not prefix
                else "Attention rollout across layers (Abnar & Zuidema 2020)\n"
                "position 0 is the class token, then patches row by row",
                highlight=marked if tokens else (),
            ),
            "attention-rollout",
            "Attention rollout (input 0)",
        )
    entropy = torch.stack([head_entropy(w) for w in weights]).numpy()  # (L, H)
    out.figure(
        pa.plot_head_entropy(layers, entropy, t), "head-entropy", "Per-head attention entropy"
    )
    data: dict[str, Any] = {
        "layers": layers,
        "entropy": entropy.tolist(),
        "max_entropy": float(np.log(t)),
        "row_sum_error": max(float((w.sum(-1) - 1).abs().max()) for w in weights),
        "check_error": max(m.error for m in maps),
    }
    verdicts = [f"maps reproduce the modules' outputs to {data['check_error']:.1e} (max abs error)"]
    tables = [
        Table(
            "Per-head entropy (nats)",
            ["layer", *[f"head {h}" for h in range(entropy.shape[1])]],
            [[n, *row] for n, row in zip(layers, entropy.tolist(), strict=True)],
            note=f"uniform = log {t} = {np.log(t):.3f}",
        )
    ]
    if mask is not None and target.dataset.spec.kind == "tokens":
        keys = torch.cat(
            [torch.zeros(len(x), prefix, dtype=torch.bool), mask[: len(x)].cpu()], dim=1
        )
        query = 0 if prefix else None
        mass = torch.stack([decisive_mass(w, keys, query) for w in weights]).numpy()  # (L, H)
        chance = chance_mass(keys)
        roll_mass = (
            float(decisive_mass(roll[:, None], keys, query)[0])
            if roll is not None
            else float("nan")
        )
        title = f"Attention mass on decisive tokens vs chance (rollout: {roll_mass:.2f})"
        out.figure(pa.plot_decisive_mass(layers, mass, chance, title), "decisive-mass", title)
        best = np.unravel_index(np.argmax(mass), mass.shape)
        data.update(
            decisive_mass=mass.tolist(),
            chance=chance,
            rollout_mass=roll_mass,
            query="cls" if prefix else "all rows",
        )
        verdicts.append(
            f"attention mass on decisive tokens: best head {layers[best[0]]} h{best[1]} {mass[best]:.2f}, "
            f"rollout {roll_mass:.2f} vs chance {chance:.2f}"
        )
        tables.append(
            Table(
                "Attention mass on decisive tokens",
                ["layer", *[f"head {h}" for h in range(mass.shape[1])]],
                [[n, *row] for n, row in zip(layers, mass.tolist(), strict=True)],
                note=f"query: {'CLS token' if prefix else 'mean over all positions'}; chance (uniform) = {chance:.3f}",
            )
        )
    embed = next((m for m in target.model.modules() if isinstance(m, PatchEmbed)), None)
    if embed is not None and target.dataset.spec.kind == "image":
        q = prefix + patch if patch is not None else 0
        grids = {
            f"{pf.layer_label(n)} (head mean)": patch_attention(w, embed.grid, q, prefix)
            .mean(1)
            .numpy()[:KEEP]
            for n, w in zip(layers, weights, strict=True)
        }
        if roll is not None:
            grids["rollout"] = patch_attention(roll[:, None], embed.grid, q, prefix)[:, 0].numpy()[
                :KEEP
            ]
        who = "class token" if patch is None else f"patch {patch}"
        out.figure(
            pa.plot_patch_attention(
                x[:KEEP].float().cpu().numpy(), grids, f"Attention of the {who} over the patches"
            ),
            "patch-attention",
            f"Attention of the {who} over the patch grid",
        )
    summary = Summary(
        kind="inspect-attention",
        title=f"Attention of {target.label} on {target.cfg.data.name}",
        text=[
            f"{len(maps)} attention layers, {entropy.shape[1]} heads, {len(x)} test inputs, eval mode."
        ],
        verdicts=verdicts,
        tables=tables,
        data=data,
    )
    arrays = {f"weights.{n}": w[0].numpy() for n, w in zip(layers, weights, strict=True)}
    if roll is not None:
        arrays["rollout"] = roll[0].numpy()
    out.arrays(input=x[0].cpu().numpy(), **arrays)
    return out.finish(summary)
