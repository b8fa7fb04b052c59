#!/usr/bin/python3
"""Reference results for the daas augmentation parity tests.

Usage: torchvision_oracle.py CASES.json

CASES.json is a list of {"op", "values", "shape": [N, C, H, W], "input", "output"}:
"input" is a raw uint8 file of N*C*H*W bytes, "values" one value per image.
Each image is transformed on its own by torchvision.transforms.functional on a
uint8 tensor, with the value meaning daas gives it (see include/daas/augment/ops.h),
and the batch is written raw to "output".
"""
import json
import math
import sys

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

NEAREST = InterpolationMode.NEAREST


def apply(op, img, v):
    # Geometric ops as torchvision's AutoAugment (_apply_op) calls them.
    if op == "ShearX":
        return F.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(v)), 0.0],
                        interpolation=NEAREST, fill=None, center=[0, 0])
    if op == "ShearY":
        return F.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(v))],
                        interpolation=NEAREST, fill=None, center=[0, 0])
    if op == "TranslateX":
        return F.affine(img, angle=0.0, translate=[int(v), 0], scale=1.0, shear=[0.0, 0.0],
                        interpolation=NEAREST, fill=None)
    if op == "TranslateY":
        return F.affine(img, angle=0.0, translate=[0, int(v)], scale=1.0, shear=[0.0, 0.0],
                        interpolation=NEAREST, fill=None)
    if op == "Rotate":
        return F.rotate(img, v, interpolation=NEAREST, fill=None)
    if op == "AutoContrast":
        return F.autocontrast(img)
    if op == "Invert":
        return F.invert(img)
    if op == "Equalize":
        return F.equalize(img)
    if op == "Solarize":
        return F.solarize(img, v)
    if op == "Posterize":
        return F.posterize(img, int(v))
    if op == "Contrast":
        return F.adjust_contrast(img, v)
    if op == "Color":
        return F.adjust_saturation(img, v)
    if op == "Brightness":
        return F.adjust_brightness(img, v)
    if op == "Sharpness":
        return F.adjust_sharpness(img, v)
    if op == "Identity":
        return img
    raise ValueError(f"no torchvision reference for op {op}")


def main():
    torch.set_num_threads(1)
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        n, c, h, w = case["shape"]
        with open(case["input"], "rb") as f:
            data = bytearray(f.read())
        images = torch.frombuffer(data, dtype=torch.uint8).view(n, c, h, w)
        out = torch.stack([apply(case["op"], images[i], float(case["values"][i])) for i in range(n)])
        assert out.dtype == torch.uint8 and out.shape == images.shape
        with open(case["output"], "wb") as f:
            f.write(out.contiguous().numpy().tobytes())


if __name__ == "__main__":
    main()
