"""Dense CLIP features: each place's image feature, from the same forward pass as the frame's own feature.

MaskCLIP (Zhou et al., ECCV 2022) reads a place's feature off the last attention layer's value
path, without the query-key attention that mixes all places into one:

- ViT: the last block's value projection and output projection of each patch token, plus the
  block's residual and MLP, then ``ln_post`` and ``proj`` as for the class token;
- ModifiedResNet (RN50...): the attention pool's value and output projections (``v_proj``,
  ``c_proj``) applied to each position of the last stage, without the positional embedding.

``DenseTower`` wraps open_clip's image tower so that one call gives both the pooled features
(``encode_image``'s, to float rounding) and the dense ones, sharing the last step's work: the map
adds little to a step. It is a plain ``torch.nn.Module``, so OpenVINO converts it as it converts
the tower.
Towers of other kinds (timm, Hugging Face, attention-pooled CoCa) have no dense path here:
``dense_unavailable`` says why.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer


def dense_unavailable(visual: torch.nn.Module) -> str:
    """Why this image tower has no dense path ('' when it has one)."""
    if isinstance(visual, VisionTransformer):
        if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
            return "its ViT pools attention or tokens another way than CLIP's class token"
        if type(visual.transformer.resblocks[-1]) is not ResidualAttentionBlock:
            return f"its ViT's last block ({type(visual.transformer.resblocks[-1]).__name__}) is not CLIP's own"
        return ""
    if isinstance(visual, ModifiedResNet):
        return ""
    return f"its image tower ({type(visual).__name__}) has no dense path here (ViT and ModifiedResNet towers do)"


def grid_of(visual: torch.nn.Module, image_size: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of the dense features for an input of ``image_size``."""
    h, w = image_size
    if isinstance(visual, VisionTransformer):
        ph, pw = visual.patch_size
        return h // ph, w // pw
    return h // 32, w // 32  # ModifiedResNet: a stride of 32 (stem 4, then 2, 2, 2)


class DenseTower(torch.nn.Module):
    """(B, 3, S, S) images -> (pooled (B, C), dense (B, rows * columns, C)), both L2-normalised.

    The last step is done once for both outputs, so a map's step costs about what a plain one does:
    a ViT's last block takes the class token's attention and the patches' own values through one
    ``out_proj`` and one MLP; a ResNet's attention pool projects the values once, for its own
    attention and for the places (without the positional embedding, added after by linearity).
    """

    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        why = dense_unavailable(visual)
        if why:
            raise ValueError(why)
        self.visual = visual
        if isinstance(visual, ModifiedResNet):
            pool = visual.attnpool
            with torch.no_grad():  # v_proj's share of the positional embedding: the same for every image
                pos_values = F.linear(pool.positional_embedding, pool.v_proj.weight)
            self.register_buffer("pos_values", pos_values, persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.visual, VisionTransformer):
            pooled, dense = _vit(self.visual, x)
        else:
            pooled, dense = _resnet(self.visual, self.pos_values, x)
        return F.normalize(pooled, dim=-1), F.normalize(dense, dim=-1)


def _heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, D) -> (B, heads, L, D / heads)."""
    b, n, d = t.shape
    return t.reshape(b, n, heads, d // heads).transpose(1, 2)


def _vit(v: VisionTransformer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = v._embeds(x)
    blocks = v.transformer.resblocks
    for block in blocks[:-1]:
        tokens = block(tokens)
    last = blocks[-1]
    attn = last.attn
    b, _, d = tokens.shape
    q, k, values = F.linear(last.ln_1(tokens), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    heads = attn.num_heads
    cls = F.scaled_dot_product_attention(_heads(q[:, :1], heads), _heads(k, heads), _heads(values, heads))
    # The class token's attention over every token, as encode_image has it; each patch its own value (MaskCLIP).
    mixed = torch.cat([cls.transpose(1, 2).reshape(b, 1, d), values[:, 1:]], dim=1)
    out = tokens + last.ls_1(attn.out_proj(mixed))
    out = v.ln_post(out + last.ls_2(last.mlp(last.ln_2(out))))
    pooled, patches = out[:, 0], out[:, 1:]
    if v.proj is not None:
        pooled, patches = pooled @ v.proj, patches @ v.proj
    return pooled, patches


def _resnet(v: ModifiedResNet, pos_values: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.to(v.conv1.weight.dtype)
    x = v.layer4(v.layer3(v.layer2(v.layer1(v.stem(x)))))
    pool = v.attnpool
    tokens = x.flatten(2).transpose(1, 2)  # (B, H*W, C)
    tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)  # the mean first, as the pool has it
    values = pool.v_proj(tokens)  # without the positional embedding: the places' values (MaskCLIP)
    placed = tokens + pool.positional_embedding.to(x.dtype)
    q, k = pool.q_proj(placed[:, :1]), pool.k_proj(placed)
    heads = pool.num_heads
    attended = F.scaled_dot_product_attention(
        _heads(q, heads), _heads(k, heads), _heads(values + pos_values.to(x.dtype), heads)
    )
    pooled = pool.c_proj(attended.transpose(1, 2).reshape(x.shape[0], -1))
    return pooled, pool.c_proj(values[:, 1:])
