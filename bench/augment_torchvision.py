#!/usr/bin/python3
"""torchvision's side of bench/augment.sh: AutoAugment(CIFAR10) applied image
by image (as a Dataset's transform runs it) to a 256-image batch of 32×32 RGB
uint8 tensors, in images per second, at a given thread count.

Usage: augment_torchvision.py [--threads N] [--seconds S]
       augment_torchvision.py --unchanged-rate   (reference shares used by
       tests/augment/test_policy.cpp)
"""
import argparse
import time

import torch
import torchvision.transforms as T
from torchvision.transforms import AutoAugment, AutoAugmentPolicy, RandAugment, TrivialAugmentWide


def measure(augment, seconds):
    batch = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    for image in batch[:32]:  # warm-up
        augment(image)
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.stack([augment(image) for image in batch])
        images += batch.shape[0]
    return images / (time.perf_counter() - start)


def throughput(threads, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rate = measure(AutoAugment(AutoAugmentPolicy.CIFAR10), seconds)
    print(f"torchvision AutoAugment(CIFAR10), image by image, {threads} thread(s): {rate:.0f} images/s")
    # The same stages as daas's autoaugment-cifar10 pipeline benchmark:
    # pad-4 crop, flip, AutoAugment, float + normalise, Cutout 16 (RandomErasing
    # of a 16x16 square is the closest torchvision op).
    pipeline = T.Compose([
        T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
        T.Lambda(torch.Tensor.contiguous),  # its equalize needs a contiguous image
        AutoAugment(AutoAugmentPolicy.CIFAR10),
        T.ConvertImageDtype(torch.float), T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        T.RandomErasing(p=1.0, scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0)])
    rate = measure(pipeline, seconds)
    print(f"torchvision pipeline (crop, flip, AutoAugment, normalise, erase), image by image, {threads} thread(s): "
          f"{rate:.0f} images/s")


def unchanged_rate():
    y, x = torch.arange(32).view(32, 1), torch.arange(32).view(1, 32)
    image = torch.stack([(3 * y + 5 * x + 40 * c) % 256 for c in range(3)]).to(torch.uint8)
    torch.manual_seed(0)
    for transform in [AutoAugment(AutoAugmentPolicy.CIFAR10), RandAugment(), TrivialAugmentWide()]:
        n = 20000
        same = sum(bool(torch.equal(transform(image), image)) for _ in range(n))
        print(f"{type(transform).__name__}: {same / n:.4f} of draws leave the image unchanged")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--unchanged-rate", action="store_true")
    args = parser.parse_args()
    if args.unchanged_rate:
        unchanged_rate()
    else:
        throughput(args.threads, args.seconds)
