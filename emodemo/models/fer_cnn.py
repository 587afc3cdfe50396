"""Talk 003's face model: a VGG-style CNN that reads one 48x48 grey face and names its emotion.

The talk used VGG-19 pre-trained on FER-2013 (48x48 grey faces, 7 emotions). We train our own VGG
of the same shape, smaller, on FER-2013: VGG's idea is stacks of 3x3 convolutions (two per stage
here, VGG-19 has 2-4), each stage halving the image by max-pooling and doubling the channels:

    48x48x1 -> [conv3x3 64, conv3x3 64, pool] -> 24x24x64 -> [128, 128, pool] -> 12x12x128
            -> [256, 256, pool] -> 6x6x256 -> [512, 512, pool] -> 3x3x512
            -> global average pool -> 512 -> dropout -> linear -> C logits

Batch normalisation after every convolution (VGG-19 had none; it makes training from scratch in
a few dozen epochs reliable). Global average pooling replaces VGG's 4096-wide dense layers, which
would hold 90 % of the weights for 3x3 maps.

The model takes raw pixels ``image [B, 48, 48]`` (uint8 or float in 0..255) and scales them
itself, so a face crop from :func:`emodemo.inputs.video.face_crops` goes in unchanged. While training it
jitters each batch (random flip, rotation up to ``rotate`` degrees, scale, shift) and blanks a
random rectangle in some faces (random erasing, probability ``erase``), on the device the batch is
on; in eval mode that step is skipped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FER_MEAN, FER_STD = 129.4, 65.0  # FER-2013 training pixels (0..255)


def vgg_stage(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with batch norm and ReLU, then 2x2 max-pooling: [B, in, H, W] -> [B, out, H/2, W/2]."""
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        layers += [
            nn.Conv2d(c_in, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


def jitter(images: torch.Tensor, rotate: float, scale: float, shift: float) -> torch.Tensor:
    """Random flip, rotation (± ``rotate`` degrees), zoom (± ``scale``) and shift (± ``shift`` of the
    side) per image, by one affine resampling: [B, 1, H, W] -> [B, 1, H, W] (borders repeat the edge)."""
    b = images.shape[0]
    angle = (torch.rand(b, device=images.device) * 2 - 1) * math.radians(rotate)
    zoom = 1 + (torch.rand(b, device=images.device) * 2 - 1) * scale
    flip = torch.where(torch.rand(b, device=images.device) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    offset = (torch.rand(b, 2, device=images.device) * 2 - 1) * 2 * shift  # grid units span 2 per side
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, offset[:, 0]], dim=1), torch.stack([sin * flip, cos, offset[:, 1]], dim=1)],
        dim=1,
    )  # [B, 2, 3]
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


def erase(images: torch.Tensor, p: float, max_area: float = 0.25) -> torch.Tensor:
    """Random erasing: with probability ``p`` an image gets one rectangle (2 % to ``max_area`` of its
    area, aspect 1:3 to 3:1) set to 0, the mean pixel after scaling: [B, 1, H, W] -> [B, 1, H, W]."""
    b, _, h, w = images.shape
    dev = images.device
    area = (0.02 + torch.rand(b, device=dev) * (max_area - 0.02)) * h * w
    aspect = torch.exp((torch.rand(b, device=dev) * 2 - 1) * math.log(3))
    rect_h = (area * aspect).sqrt().clamp(max=h)
    rect_w = (area / aspect).sqrt().clamp(max=w)
    top = torch.rand(b, device=dev) * (h - rect_h)
    left = torch.rand(b, device=dev) * (w - rect_w)
    rows = torch.arange(h, device=dev)[None, :, None]  # [1, H, 1]
    cols = torch.arange(w, device=dev)[None, None, :]  # [1, 1, W]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + rect_h)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + rect_w)[:, None, None])
    )  # [B, H, W]
    chosen = (torch.rand(b, device=dev) < p)[:, None, None]
    return images.masked_fill((inside & chosen)[:, None], 0.0)


class FerCNN(nn.Module):
    def __init__(
        self,
        n_classes: int = 7,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        dropout: float = 0.5,
        rotate: float = 10.0,
        scale: float = 0.1,
        shift: float = 0.1,
        erase: float = 0.5,
    ):
        super().__init__()
        widths = tuple(widths)
        self.stages = nn.Sequential(*(vgg_stage(c_in, c_out) for c_in, c_out in zip((1,) + widths[:-1], widths)))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(widths[-1], n_classes))
        self.augment = dict(rotate=rotate, scale=scale, shift=shift)
        self.erase = erase

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """The pooled face embedding: image [B, H, W] pixels 0..255 -> [B, widths[-1]]."""
        x = (image.float().unsqueeze(1) - FER_MEAN) / FER_STD  # [B, 1, 48, 48]
        if self.training:
            x = erase(jitter(x, **self.augment), self.erase)
        return self.stages(x).mean(dim=(2, 3))  # [B, 512, 3, 3] -> [B, 512]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))  # [B, C]
