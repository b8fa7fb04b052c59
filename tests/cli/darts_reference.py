#!/usr/bin/python3
"""Loads a `daas export` folder into PyTorch networks built the way DARTS's
cnn/model.py and cnn/operations.py build NetworkCIFAR and NetworkImageNet
(same module tree, so the same state_dict names), with nothing from daas,
and compares their logits with the ones daas computed.

Usage: darts_reference.py EXPORT_DIR INPUTS.pt EXPECTED_LOGITS.pt [TOLERANCE]

INPUTS.pt and EXPECTED_LOGITS.pt are tensors in torch.save's format: normalised
inputs [N, C, H, W] and daas's eval-mode logits [N, classes]. Prints one line
"max |difference| X over N inputs" and exits 0 when X <= TOLERANCE (1e-4).

The only departure from DARTS's code: the stem takes model.json's in_channels
(DARTS hard-codes 3).
"""
import json
import sys
from collections import namedtuple

import torch
import torch.nn as nn

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


class ReLUConvBN(nn.Module):
    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, 1, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x):
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.)


class FactorizedReduce(nn.Module):
    def __init__(self, C_in, C_out, affine=True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(name, C, stride):
    """The module DARTS's OPS table builds for `name` (affine BatchNorms)."""
    if name == "none":
        return Zero(stride)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(C, C)
    kind, size = name.rsplit("_", 1)
    kernel = int(size.split("x")[0])
    if kind == "sep_conv":
        return SepConv(C, C, kernel, stride, kernel // 2)
    if kind == "dil_conv":
        return DilConv(C, C, kernel, stride, kernel - 1, 2)
    raise ValueError(f"unknown op {name}")


class Cell(nn.Module):
    def __init__(self, genotype, C_prev_prev, C_prev, C, reduction, reduction_prev):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_prev_prev, C)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        if reduction:
            op_names, indices = zip(*genotype.reduce)
            concat = genotype.reduce_concat
        else:
            op_names, indices = zip(*genotype.normal)
            concat = genotype.normal_concat
        self._steps = len(op_names) // 2
        self._concat = list(concat)
        self.multiplier = len(concat)
        self.reduction = reduction
        self._ops = nn.ModuleList()
        for name, index in zip(op_names, indices):
            stride = 2 if reduction and index < 2 else 1
            self._ops.append(make_op(name, C, stride))
        self._indices = indices

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self._steps):
            h1 = self._ops[2 * i](states[self._indices[2 * i]])
            h2 = self._ops[2 * i + 1](states[self._indices[2 * i + 1]])
            states.append(h1 + h2)
        return torch.cat([states[i] for i in self._concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    def __init__(self, C, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)


class AuxiliaryHeadImageNet(nn.Module):
    def __init__(self, C, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)


def cell_stack(genotype, C_stem, C, layers, reduction_prev):
    """The cells of both networks: channels double at the two reduction cells
    (a third and two thirds of the way); returns the cells, the last cell's
    output channels and those the auxiliary head reads."""
    C_prev_prev, C_prev, C_curr = C_stem, C_stem, C
    cells = nn.ModuleList()
    for i in range(layers):
        reduction = i in [layers // 3, 2 * layers // 3]
        if reduction:
            C_curr *= 2
        cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
        reduction_prev = reduction
        cells += [cell]
        C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
        if i == 2 * layers // 3:
            C_to_auxiliary = C_prev
    return cells, C_prev, C_to_auxiliary


class NetworkCIFAR(nn.Module):
    def __init__(self, C, num_classes, layers, auxiliary, genotype, in_channels=3):
        super().__init__()
        self._layers = layers
        self._auxiliary = auxiliary
        stem_multiplier = 3
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        self.cells, C_prev, C_to_auxiliary = cell_stack(genotype, C_curr, C, layers, reduction_prev=False)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(C_to_auxiliary, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))


class NetworkImageNet(nn.Module):
    def __init__(self, C, num_classes, layers, auxiliary, genotype, in_channels=3):
        super().__init__()
        self._layers = layers
        self._auxiliary = auxiliary
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C))
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C))
        self.cells, C_prev, C_to_auxiliary = cell_stack(genotype, C, C, layers, reduction_prev=True)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadImageNet(C_to_auxiliary, num_classes)
        self.global_pooling = nn.AvgPool2d(7)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x):
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))


def main():
    export_dir, inputs_path, expected_path = sys.argv[1:4]
    tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4
    with open(f"{export_dir}/genotype.txt") as f:
        genotype = eval(f.read(), {"__builtins__": {}}, {"Genotype": Genotype, "range": range})
    with open(f"{export_dir}/model.json") as f:
        model = json.load(f)
    args = model["arguments"]
    network = {"NetworkCIFAR": NetworkCIFAR, "NetworkImageNet": NetworkImageNet}[model["network"]]
    net = network(args["C"], args["num_classes"], args["layers"], args["auxiliary"], genotype,
                  in_channels=model["in_channels"])
    state = torch.load(f"{export_dir}/state_dict.pt")
    net.load_state_dict(state, strict=True)
    net.eval()
    inputs = torch.load(inputs_path)
    expected = torch.load(expected_path)
    with torch.no_grad():
        logits = net(inputs)
    difference = (logits - expected).abs().max().item()
    print(f"max |difference| {difference:.3g} over {inputs.shape[0]} inputs")
    sys.exit(0 if difference <= tolerance else 1)


if __name__ == "__main__":
    main()
