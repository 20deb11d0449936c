"""Dense CLIP features: each place's image feature, from the same forward pass as the frame's own feature.

MaskCLIP (Zhou et al., ECCV 2022) reads a place's feature off the last attention layer's value
path, without the query-key attention that mixes all places into one:

- ViT: the last block's value projection and output projection of each patch token, plus the
  block's residual and MLP, then ``ln_post`` and ``proj`` as for the class token;
- ModifiedResNet (RN50...): the attention pool's value and output projections (``v_proj``,
  ``c_proj``) applied to each position of the last stage, without the positional embedding.

``DenseTower`` wraps open_clip's image tower so that one call gives both the pooled features
(exactly what ``encode_image`` gives) and the dense ones: the map adds only those projections to
a step. It is a plain ``torch.nn.Module``, so OpenVINO converts it as it converts the tower.
Towers of other kinds (timm, Hugging Face, attention-pooled CoCa) have no dense path here:
``dense_unavailable`` says why.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer


def dense_unavailable(visual: torch.nn.Module) -> str:
    """Why this image tower has no dense path ('' when it has one)."""
    if isinstance(visual, VisionTransformer):
        if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
            return "its ViT pools attention or tokens another way than CLIP's class token"
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
    """(B, 3, S, S) images -> (pooled (B, C), dense (B, rows * columns, C)), both L2-normalised."""

    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        why = dense_unavailable(visual)
        if why:
            raise ValueError(why)
        self.visual = visual

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.visual, VisionTransformer):
            pooled, dense = _vit(self.visual, x)
        else:
            pooled, dense = _resnet(self.visual, x)
        return F.normalize(pooled, dim=-1), F.normalize(dense, dim=-1)


def _vit(v: VisionTransformer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = v._embeds(x)
    blocks = v.transformer.resblocks
    for block in blocks[:-1]:
        tokens = block(tokens)
    last = blocks[-1]
    out = last(tokens)  # the class token's path, as encode_image runs it
    pooled = v.ln_post(out[:, 0])
    # The value path: the same block without the query-key attention (MaskCLIP).
    attn = last.attn
    width = tokens.shape[-1]
    value = F.linear(last.ln_1(tokens[:, 1:]), attn.in_proj_weight[2 * width :], attn.in_proj_bias[2 * width :])
    patches = tokens[:, 1:] + last.ls_1(attn.out_proj(value))
    patches = patches + last.ls_2(last.mlp(last.ln_2(patches)))
    patches = v.ln_post(patches)
    if v.proj is not None:
        pooled, patches = pooled @ v.proj, patches @ v.proj
    return pooled, patches


def _resnet(v: ModifiedResNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.to(v.conv1.weight.dtype)
    x = v.layer4(v.layer3(v.layer2(v.layer1(v.stem(x)))))
    pool = v.attnpool
    pooled = pool(x)
    places = x.flatten(2).transpose(1, 2)  # (B, H*W, C)
    dense = pool.c_proj(pool.v_proj(places))
    return pooled, dense
