#!/usr/bin/python3
"""Plain PyTorch reference for bench/compare.sh: the same steps daas times in
bench/compare.cpp, written the way an ordinary PyTorch user would write them
(DARTS ops and networks, GDAS single-path Gumbel sampling, a DADA-style
searchable augmentation policy applied image by image with
torchvision.transforms.functional), on random data.

Cases (--case):
  joint  one joint search step: augmentation draw and apply, Gumbel path,
         architecture step (Adam on alpha), policy step (finite difference at
         w +/- eps v, REINFORCE, Adam on beta), weight step (SGD)
  arch   the same without the policy step, with pad-4 crop + flip instead
  train  one retraining step of a genotype's NetworkCIFAR (drop-path 0.2)
  infer  one inference forward (eval mode, no gradients)

Usage:
  /usr/bin/python3 bench/reference.py --case joint --channels 16 --layers 8 --batch 64 --shape 1x28x28
  /usr/bin/python3 bench/reference.py --case train --genotype bench/rich_genotype.txt --batch 96
  /usr/bin/python3 bench/reference.py --count --genotype DARTS_V2,bench/rich_genotype.txt   (sizes only)

Prints one line: RESULT case=joint img_per_s=27.3 median_ms=2345.0
(images of the training batch per second, median over --steps timed steps
after --warmup untimed ones), after a search step's PHASES_MS line (median
milliseconds per phase, the phases daas's bench_compare prints), or with --count one line per network:
PARAMS network=supernet params=N (weights without alpha), MADDS network=supernet
(multiply-adds per image of one forward along 50 sampled paths), PARAMS network=DARTS_V2 params=N.
"""
import argparse
import math
import statistics
import time
from collections import namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

NUM_CLASSES = 10
MEAN, STD = 0.5, 0.29  # normalisation per channel, as bench/compare.cpp

# ------------------------------------------------------------------ DARTS ops

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5])


def load_genotype(spec):
    """DARTS_V2, or a file in DARTS syntax (`[NAME = ]Genotype(normal=[...], ...)`)."""
    if spec in ("DARTS_V2", "DARTS"):
        return DARTS_V2
    with open(spec) as f:
        text = f.read().strip()
    if "=" in text.split("(")[0]:
        text = text.split("=", 1)[1].strip()
    return eval(text, {"__builtins__": {}}, {"Genotype": Genotype, "range": range})


class ReLUConvBN(nn.Sequential):
    def __init__(self, C_in, C_out, kernel, stride, padding, affine):
        super().__init__(nn.ReLU(), nn.Conv2d(C_in, C_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(C_out, affine=affine))


class SepConv(nn.Sequential):
    def __init__(self, C_in, C_out, kernel, stride, padding, affine):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(C_in, C_in, kernel, stride, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(),
            nn.Conv2d(C_in, C_in, kernel, 1, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))


class DilConv(nn.Sequential):
    def __init__(self, C_in, C_out, kernel, stride, padding, dilation, affine):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(C_in, C_in, kernel, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))


class FactorizedReduce(nn.Module):
    def __init__(self, C_in, C_out, affine):
        super().__init__()
        self.conv1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv1(x), self.conv2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def make_op(name, C, stride, affine, search):
    """DARTS OPS[name]; in the search network (`search`) pools get a non-affine BN."""
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        if name == "max_pool_3x3":
            pool = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        return nn.Sequential(pool, nn.BatchNorm2d(C, affine=False)) if search else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)
    if name == "sep_conv_3x3":
        return SepConv(C, C, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(C, C, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(C, C, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(C, C, 5, stride, 4, 2, affine)
    raise ValueError(f"unknown op {name}")


def is_reduction(i, layers):
    return i in (layers // 3, 2 * layers // 3)


# ---------------------------------------------------- search network (GDAS)

def gumbel_path(alpha, tau):
    """One op per edge: straight-through one-hot weights and the op indices."""
    while True:
        gumbels = -torch.empty_like(alpha).exponential_().log()
        probs = F.softmax((F.log_softmax(alpha, dim=1) + gumbels) / tau, dim=1)
        if torch.isinf(gumbels).any() or not torch.isfinite(probs).all():
            continue
        index = probs.max(dim=1, keepdim=True)[1]
        one_hot = torch.zeros_like(probs).scatter_(1, index, 1.0)
        return one_hot - probs.detach() + probs, index.view(-1).tolist()


class MixedOp(nn.Module):
    def __init__(self, C, stride):
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, C, stride, affine=False, search=True) for name in PRIMITIVES)

    def forward(self, x, weights, k):
        return self.ops[k](x) * weights[k]


class SearchCell(nn.Module):
    def __init__(self, steps, multiplier, C_prev_prev, C_prev, C, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.steps, self.multiplier = steps, multiplier
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList()
        for i in range(steps):
            for j in range(i + 2):
                self.edges.append(MixedOp(C, 2 if reduction and j < 2 else 1))

    def forward(self, s0, s1, weights, index):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            node = sum(self.edges[offset + j](h, weights[offset + j], index[offset + j])
                       for j, h in enumerate(states))
            offset += len(states)
            states.append(node)
        return torch.cat(states[-self.multiplier:], dim=1)


class SearchNetwork(nn.Module):
    def __init__(self, C, layers, in_channels, num_classes, steps=4, multiplier=4, stem_multiplier=3, tau=10.0):
        super().__init__()
        self.tau = tau
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = is_reduction(i, layers)
            if reduction:
                C_curr *= 2
            self.cells.append(SearchCell(steps, multiplier, C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, multiplier * C_curr
        self.classifier = nn.Linear(C_prev, num_classes)
        edges = sum(i + 2 for i in range(steps))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))

    def weights(self):
        return [p for name, p in self.named_parameters() if not name.startswith("alpha_")]

    def arch_parameters(self):
        return [self.alpha_normal, self.alpha_reduce]

    def sample_path(self):
        return gumbel_path(self.alpha_normal, self.tau), gumbel_path(self.alpha_reduce, self.tau)

    def forward(self, x, path, detach_arch):
        (w_normal, k_normal), (w_reduce, k_reduce) = path
        if detach_arch:
            w_normal, w_reduce = w_normal.detach(), w_reduce.detach()
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            if cell.reduction:
                s0, s1 = s1, cell(s0, s1, w_reduce, k_reduce)
            else:
                s0, s1 = s1, cell(s0, s1, w_normal, k_normal)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


# --------------------------------------------------- retraining network

def drop_path(x, drop_prob):
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    def __init__(self, genotype, C_prev_prev, C_prev, C, reduction, reduction_prev):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_prev_prev, C, affine=True)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=True)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=True)
        edges, self.concat = (genotype.reduce, genotype.reduce_concat) if reduction else \
            (genotype.normal, genotype.normal_concat)
        self.concat = list(self.concat)
        self.ops = nn.ModuleList()
        self.inputs = []
        for name, index in edges:
            self.ops.append(make_op(name, C, 2 if reduction and index < 2 else 1, affine=True, search=False))
            self.inputs.append(index)

    def forward(self, s0, s1, drop_prob):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(0, len(self.ops), 2):
            op1, op2 = self.ops[i], self.ops[i + 1]
            h1, h2 = op1(states[self.inputs[i]]), op2(states[self.inputs[i + 1]])
            if self.training and drop_prob > 0:
                if not isinstance(op1, nn.Identity):
                    h1 = drop_path(h1, drop_prob)
                if not isinstance(op2, nn.Identity):
                    h2 = drop_path(h2, drop_prob)
            states.append(h1 + h2)
        return torch.cat([states[i] for i in self.concat], dim=1)


class NetworkCIFAR(nn.Module):
    def __init__(self, C, layers, genotype, in_channels, num_classes, drop_path_prob=0.0):
        super().__init__()
        self.drop_path_prob = drop_path_prob
        C_curr = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = is_reduction(i, layers)
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, len(cell.concat) * C_curr
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


# --------------------------------------------- searchable augmentation policy

NEAREST = InterpolationMode.NEAREST

# name: (value at level 0, value at level 1, what it scales with, signed)
AUGMENT_OPS = {
    "ShearX": (0.0, 0.3, None, True),
    "ShearY": (0.0, 0.3, None, True),
    "TranslateX": (0.0, 0.45, "width", True),
    "TranslateY": (0.0, 0.45, "height", True),
    "Rotate": (0.0, 30.0, None, True),
    "AutoContrast": (0.0, 0.0, None, False),
    "Invert": (0.0, 0.0, None, False),
    "Equalize": (0.0, 0.0, None, False),
    "Solarize": (0.0, 256.0, None, False),
    "Posterize": (4.0, 8.0, None, False),
    "Contrast": (0.1, 1.9, None, False),
    "Color": (0.1, 1.9, None, False),
    "Brightness": (0.1, 1.9, None, False),
    "Sharpness": (0.1, 1.9, None, False),
    "Cutout": (0.0, 0.2, "side", False),
}
OP_NAMES = list(AUGMENT_OPS)
SUB_POLICIES = [(OP_NAMES[i], OP_NAMES[j]) for i in range(len(OP_NAMES)) for j in range(i + 1, len(OP_NAMES))]


def level_to_value(name, level, height, width):
    low, high, extent, _ = AUGMENT_OPS[name]
    scale = {None: 1, "width": width, "height": height, "side": min(height, width)}[extent]
    return (low + (high - low) * level) * scale


def apply_op(name, img, v, fill):
    """One op on one uint8 [C, H, W] image, as torchvision's AutoAugment calls it."""
    if name == "ShearX":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(v)), 0.0],
                         interpolation=NEAREST, center=[0, 0])
    if name == "ShearY":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(v))],
                         interpolation=NEAREST, center=[0, 0])
    if name == "TranslateX":
        return TF.affine(img, angle=0.0, translate=[int(v), 0], scale=1.0, shear=[0.0, 0.0], interpolation=NEAREST)
    if name == "TranslateY":
        return TF.affine(img, angle=0.0, translate=[0, int(v)], scale=1.0, shear=[0.0, 0.0], interpolation=NEAREST)
    if name == "Rotate":
        return TF.rotate(img, v, interpolation=NEAREST)
    if name == "AutoContrast":
        return TF.autocontrast(img)
    if name == "Invert":
        return TF.invert(img)
    if name == "Equalize":
        return TF.equalize(img)
    if name == "Solarize":
        # torchvision refuses a threshold above 255; PIL leaves the image as it is.
        return TF.solarize(img, v) if v <= 255 else img
    if name == "Posterize":
        return TF.posterize(img, int(v))
    if name == "Contrast":
        return TF.adjust_contrast(img, v)
    if name == "Color":
        return TF.adjust_saturation(img, v)
    if name == "Brightness":
        return TF.adjust_brightness(img, v)
    if name == "Sharpness":
        return TF.adjust_sharpness(img, v)
    if name == "Cutout":
        side = int(v)
        if side <= 0:
            return img
        height, width = img.shape[-2:]
        cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
        y0, x0 = max(0, cy - side // 2), max(0, cx - side // 2)
        y1, x1 = min(height, y0 + side), min(width, x0 + side)
        return TF.erase(img, y0, x0, y1 - y0, x1 - x0, fill)
    raise ValueError(f"unknown augmentation op {name}")


class SearchablePolicy(nn.Module):
    """105 two-op sub-policies: selection logits phi, application logits theta,
    magnitude logits mu over `levels` levels in [0, 1]."""

    def __init__(self, levels, fill):
        super().__init__()
        self.levels = levels
        self.fill = fill
        self.phi = nn.Parameter(torch.zeros(len(SUB_POLICIES)))
        self.theta = nn.Parameter(torch.zeros(len(SUB_POLICIES), 2))
        self.mu = nn.Parameter(torch.zeros(len(SUB_POLICIES), 2, levels))

    @torch.no_grad()
    def sample(self):
        """One image's draws: sub-policy, applied flags, levels, sign flips."""
        s = int(torch.multinomial(F.softmax(self.phi, dim=0), 1))
        applied = torch.bernoulli(torch.sigmoid(self.theta[s]))
        levels = torch.multinomial(F.softmax(self.mu[s], dim=1), 1).view(2)
        negate = torch.rand(2) < 0.5
        return s, applied.tolist(), levels.tolist(), negate.tolist()

    def apply(self, img, draw):
        s, applied, levels, negate = draw
        height, width = img.shape[-2:]
        for name, on, level, flip in zip(SUB_POLICIES[s], applied, levels, negate):
            if not on:
                continue
            v = level_to_value(name, level / (self.levels - 1), height, width)
            if AUGMENT_OPS[name][3] and flip:
                v = -v
            img = apply_op(name, img, v, self.fill)
        return img

    def log_prob(self, draws):
        s = torch.tensor([d[0] for d in draws])
        applied = torch.tensor([d[1] for d in draws])
        levels = torch.tensor([d[2] for d in draws])
        theta = self.theta[s]
        result = F.log_softmax(self.phi, dim=0)[s]
        result = result + (applied * F.logsigmoid(theta) + (1 - applied) * F.logsigmoid(-theta)).sum(1)
        level_log_probs = F.log_softmax(self.mu[s], dim=2)
        return result + level_log_probs.gather(2, levels.unsqueeze(2)).squeeze(2).sum(1)


# ------------------------------------------------------------------ the steps

def normalise(images):
    x = (images.float() / 255 - MEAN) / STD
    return x.contiguous(memory_format=torch.channels_last)


# The phases of a search step, named and bounded as daas's bench_compare
# prints them (PHASES_MS): augmentation and the path; validation
# forward+backward and alpha's step; the two perturbed forwards and the
# policy's step; training forward+backward; clipping and SGD.
PHASE_NAMES = ("augment", "architecture", "training", "policy", "update")


class PhaseClock:
    """Seconds spent in each phase of one step, from one mark to the next."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASE_NAMES, 0.0)
        self.last = time.perf_counter()

    def mark(self, phase):
        now = time.perf_counter()
        self.seconds[phase] += now - self.last
        self.last = now


class SearchStep:
    """One step of the joint (policy given) or arch-only (policy None) search."""

    def __init__(self, args, shape, policy):
        channels, height, width = shape
        self.model = SearchNetwork(args.channels, args.layers, channels, NUM_CLASSES)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.weights = self.model.weights()
        self.alphas = self.model.arch_parameters()
        self.lr = 0.025
        self.weight_optimizer = torch.optim.SGD(self.weights, lr=self.lr, momentum=0.9, weight_decay=3e-4)
        self.arch_optimizer = torch.optim.Adam(self.alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        self.policy = policy
        if policy is not None:
            self.policy_optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
        self.standard = T.Compose([T.RandomCrop((height, width), padding=4), T.RandomHorizontalFlip()])
        self.images = torch.randint(0, 256, (args.batch, channels, height, width), dtype=torch.uint8)
        self.labels = torch.randint(0, NUM_CLASSES, (args.batch,))
        self.val_images = torch.randint(0, 256, (args.batch, channels, height, width), dtype=torch.uint8)
        self.val_labels = torch.randint(0, NUM_CLASSES, (args.batch,))

    def zero_grads(self):
        for p in self.weights + self.alphas:
            p.grad = None

    def per_image_loss(self, x, y, path):
        return F.cross_entropy(self.model(x, path, detach_arch=True), y, reduction="none")

    @torch.no_grad()
    def directional_derivatives(self, v, x, y, path, epsilon=0.01):
        norm = torch.sqrt(sum(g.pow(2).sum() for g in v if g is not None)).item()
        eps = epsilon / norm
        saved_weights = [p.clone() for p in self.weights]
        saved_buffers = [b.clone() for b in self.model.buffers()]

        def shift(scale):
            for p, saved, g in zip(self.weights, saved_weights, v):
                p.copy_(saved)
                if g is not None:
                    p.add_(g, alpha=scale)

        shift(eps)
        plus = self.per_image_loss(x, y, path)
        shift(-eps)
        minus = self.per_image_loss(x, y, path)
        for p, saved in zip(self.weights, saved_weights):
            p.copy_(saved)
        for b, saved in zip(self.model.buffers(), saved_buffers):
            b.copy_(saved)
        return (plus - minus) / (2 * eps)

    def __call__(self):
        clock = PhaseClock()
        # 1. Augmentation, image by image, and the step's path.
        if self.policy is not None:
            draws = [self.policy.sample() for _ in range(len(self.images))]
            augmented = torch.stack([self.policy.apply(img, d) for img, d in zip(self.images, draws)])
        else:
            augmented = torch.stack([self.standard(img) for img in self.images])
        x, y = normalise(augmented), self.labels
        x_val, y_val = normalise(self.val_images), self.val_labels
        path = self.model.sample_path()
        clock.mark("augment")

        # 2. Architecture step; the weights' gradients are v.
        self.zero_grads()
        val_logits = self.model(x_val, path, detach_arch=False)
        val_loss = F.cross_entropy(val_logits, y_val)
        val_loss.backward()
        self.arch_optimizer.step()
        stats = [val_loss.item(), (val_logits.argmax(1) == y_val).sum().item()]
        clock.mark("architecture")

        # 3. Policy step: REINFORCE on the finite-difference d_i.
        if self.policy is not None:
            v = [p.grad.clone() if p.grad is not None else None for p in self.weights]
            d = self.directional_derivatives(v, x, y, path)
            advantage = d - d.mean()
            advantage = advantage / advantage.std().clamp_min(1e-12)
            self.policy_optimizer.zero_grad()
            (-self.lr * (advantage * self.policy.log_prob(draws)).mean()).backward()
            self.policy_optimizer.step()
            stats.append(d.std().item())
            clock.mark("policy")

        # 4. Weight step on the augmented batch along the same path.
        self.zero_grads()
        logits = self.model(x, path, detach_arch=True)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        clock.mark("training")
        nn.utils.clip_grad_norm_(self.weights, 5.0)
        self.weight_optimizer.step()
        stats += [loss.item(), (logits.argmax(1) == y).sum().item()]
        clock.mark("update")
        self.phase_seconds = clock.seconds
        return stats


class TrainStep:
    """One retraining step (or, with `inference`, one eval-mode forward)."""

    def __init__(self, args, shape, inference):
        channels, height, width = shape
        genotype = load_genotype(args.genotype)
        self.model = NetworkCIFAR(args.channels, args.layers, genotype, channels, NUM_CLASSES, drop_path_prob=0.2)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.inference = inference
        self.model.train(not inference)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        images = torch.randint(0, 256, (args.batch, channels, height, width), dtype=torch.uint8)
        self.x = normalise(images)
        self.y = torch.randint(0, NUM_CLASSES, (args.batch,))

    def __call__(self):
        if self.inference:
            with torch.no_grad():
                return self.model(self.x)
        logits = self.model(self.x)
        loss = F.cross_entropy(logits, self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        return loss.item(), (logits.argmax(1) == self.y).sum().item()


def make_step(args, shape):
    if args.case == "joint":
        # Cutout fills with the data set's mean, as daas does.
        fill = torch.full((shape[0], 1, 1), round(MEAN * 255), dtype=torch.uint8)
        return SearchStep(args, shape, SearchablePolicy(levels=11, fill=fill))
    if args.case == "arch":
        return SearchStep(args, shape, policy=None)
    return TrainStep(args, shape, inference=args.case == "infer")


def path_multiply_adds(supernet, shape, paths=50):
    """Multiply-adds per image of the search network's forward (convolutions
    and the classifier) along `paths` sampled paths: mean, min and max."""
    counts = []
    total = [0]

    def count(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total[0] += output[0].numel() * per_output
        elif isinstance(module, nn.Linear):
            total[0] += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in supernet.modules()]
    with torch.no_grad():
        for _ in range(paths):
            total[0] = 0
            supernet(torch.zeros(1, *shape), supernet.sample_path(), detach_arch=True)
            counts.append(total[0])
    for hook in hooks:
        hook.remove()
    return statistics.mean(counts), min(counts), max(counts)


def count_parameters(args, shape):
    """Parameters of the search network (weights, without alpha) and of each
    genotype's NetworkCIFAR (--genotype may list several, comma-separated),
    and the search network's multiply-adds per image along sampled paths."""
    channels = shape[0]
    supernet = SearchNetwork(args.channels, args.layers, channels, NUM_CLASSES)
    print(f"PARAMS network=supernet params={sum(p.numel() for p in supernet.weights())}")
    mean, low, high = path_multiply_adds(supernet, shape)
    print(f"MADDS network=supernet paths=50 mean={mean / 1e6:.1f}M min={low / 1e6:.1f}M max={high / 1e6:.1f}M")
    for spec in args.genotype.split(","):
        net = NetworkCIFAR(args.channels, args.layers, load_genotype(spec), channels, NUM_CLASSES)
        print(f"PARAMS network={spec} params={sum(p.numel() for p in net.parameters())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=["joint", "arch", "train", "infer"], default="joint")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--shape", default="1x28x28", help="CxHxW")
    parser.add_argument("--genotype", default="DARTS_V2", help="DARTS_V2 or a file in DARTS syntax (train, infer)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", action="store_true",
                        help="print parameter counts of the search network and of --genotype's network, and stop")
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split("x"))

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.count:
        count_parameters(args, shape)
        return
    step = make_step(args, shape)
    for _ in range(args.warmup):
        step()
    times = []
    phases = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        phases.append(getattr(step, "phase_seconds", None))
    median = statistics.median(times)
    if phases[0] is not None:
        medians = " ".join(f"{name}={1000 * statistics.median(p[name] for p in phases):.0f}" for name in PHASE_NAMES)
        print(f"PHASES_MS {medians}")
    print(f"RESULT case={args.case} img_per_s={args.batch / median:.1f} median_ms={1000 * median:.1f}")


if __name__ == "__main__":
    main()
