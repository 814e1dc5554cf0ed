#!/usr/bin/python3
# Makes tests/data/torch_forms/NAME.onnx and torch_forms/io.txt: one small model per way a
# PyTorch user writes a polynomial of degree ≤ 2, and products of two different encrypted
# values (two branches, a cube), each exported by a PLAIN torch.onnx.export, with PyTorch's
# own outputs on 4 random inputs.
#
# Every model is conv 3×3 (1 → 2 channels, pad 1) on a 1×6×6 input → FORM → flatten →
# linear 72 → 3, so that each form can be compared with the canonical one, step for step.
#
# Made once with Debian 12's python3-torch 1.13 and python3-onnx 1.12 (offline):
#   apt-get install python3-torch python3-onnx
#   /usr/bin/python3 tests/data/make_torch_forms.py
# The tests (tests/io/test_torch_forms.cpp) only read the files; they never run Python.
import os
import torch
import torch.nn as nn

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_forms")
C, H, W = 2, 6, 6


def coef(shape, mean, spread, g):
    return nn.Parameter(mean + spread * torch.randn(*shape, generator=g))


class Form(nn.Module):
    """conv → form(x) → linear; `form` is a function of (self, x)."""

    def __init__(self, form, seed, coef_shape=(C, 1, 1), bn_before=False, bn_after=False):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(1, C, 3, padding=1)
        self.conv2 = nn.Conv2d(1, C, 3, padding=1)  # the second branch of `product`
        self.a = coef(coef_shape, 0.2, 0.05, g)
        self.b = coef(coef_shape, 0.7, 0.1, g)
        self.c = coef(coef_shape, 0.0, 0.1, g)
        self.m = coef(coef_shape, 0.0, 0.3, g)  # a shift, for a·(x − m)²
        self.bn_before = nn.BatchNorm2d(C) if bn_before else None
        self.bn_after = nn.BatchNorm2d(C) if bn_after else None
        for bn in (self.bn_before, self.bn_after):
            if bn is not None:  # non-trivial statistics
                with torch.no_grad():
                    bn.running_mean.copy_(0.2 * torch.randn(C, generator=g))
                    bn.running_var.copy_(0.5 + torch.rand(C, generator=g))
                    bn.weight.copy_(1 + 0.2 * torch.randn(C, generator=g))
                    bn.bias.copy_(0.1 * torch.randn(C, generator=g))
        self.fc = nn.Linear(C * H * W, 3)
        self.form = form

    def forward(self, inp):
        x = self.conv(inp)
        if self.bn_before is not None:
            x = self.bn_before(x)
        y = self.form(self, x, inp)
        if self.bn_after is not None:
            y = self.bn_after(y)
        return self.fc(torch.flatten(y, 1))


# name → (form, options). The first group must compile to exactly the canonical form's
# steps; the rest need a ciphertext × ciphertext product: `product` and `plus_minus_branches`
# of two branches (x = conv(i), z = conv2(i)), `cube` (x·x·x) and `cube_branch` (x·x·z) of
# a square and a wire one level apart.
FORMS = {
    "canonical": (lambda s, x, i: s.a * x * x + s.b * x + s.c, {}),
    "x_x_a": (lambda s, x, i: x * x * s.a + x * s.b + s.c, {}),
    "xa_x": (lambda s, x, i: (x * s.a) * x + s.b * x + s.c, {}),
    "x_ax": (lambda s, x, i: x * (s.a * x) + s.b * x + s.c, {}),
    "pow": (lambda s, x, i: s.a * x.pow(2) + s.b * x + s.c, {}),
    "square": (lambda s, x, i: s.a * torch.square(x) + s.b * x + s.c, {}),
    "sub_div": (lambda s, x, i: s.a * x * x / 2.0 - s.b * x - s.c, {}),
    "neg_rsub": (lambda s, x, i: s.c - (-(s.a * x * x) - s.b * x), {}),
    "scalar": (lambda s, x, i: 0.25 * x * x + 0.5 * x + 0.1, {}),
    "layer": (lambda s, x, i: s.a * x * x + s.b * x + s.c, {"coef_shape": (1,)}),
    "element": (lambda s, x, i: s.a * x * x + s.b * x + s.c, {"coef_shape": (C, H, W)}),
    "bn_before": (lambda s, x, i: s.a * x * x + s.b * x + s.c, {"bn_before": True}),
    "bn_after": (lambda s, x, i: s.a * x * x + s.b * x + s.c, {"bn_after": True}),
    "reversed": (lambda s, x, i: s.c + s.b * x + s.a * x * x, {}),
    "mixed_order": (lambda s, x, i: s.b * x + (s.c + x * s.a * x), {}),
    "horner": (lambda s, x, i: (s.a * x + s.b) * x + s.c, {}),
    "plus_minus": (lambda s, x, i: (x + 1) * (x - 1) * s.a + s.b * x, {}),
    "completed": (lambda s, x, i: s.a * (x - s.m) ** 2 + s.b * x + s.c, {}),
    "product": (lambda s, x, i: x * s.conv2(i) + s.b * x, {}),
    "cube": (lambda s, x, i: s.a * x * x * x + s.b * x, {}),
    "plus_minus_branches": (lambda s, x, i: (x + 1) * (s.conv2(i) - 1) * s.a + s.b * x, {}),
    "cube_branch": (lambda s, x, i: x * x * s.conv2(i) * s.a + s.b * x, {}),
}

if __name__ == "__main__":
    os.makedirs(here, exist_ok=True)
    g = torch.Generator().manual_seed(11)
    inp = torch.randn(4, 1, H, W, generator=g)
    with open(os.path.join(here, "io.txt"), "w") as io:
        io.write("# 'inputs SAMPLES FEATURES' and one line per sample; then per model 'model NAME OUTPUTS' and one line of torch's outputs per sample\n")
        io.write(f"inputs {inp.shape[0]} {H * W}\n")
        for row in inp.reshape(inp.shape[0], -1).tolist():
            io.write(" ".join(repr(v) for v in row) + "\n")
        for k, (name, (form, opt)) in enumerate(FORMS.items()):
            net = Form(form, 100 + k, **opt).eval()
            with torch.no_grad():
                out = net(inp)
            # (A plain export fuses a batch norm right after a conv into the conv; bn_before
            # keeps the BatchNormalization node with TrainingMode.PRESERVE on the eval model.)
            mode = torch.onnx.TrainingMode.PRESERVE if opt.get("bn_before") else torch.onnx.TrainingMode.EVAL
            torch.onnx.export(net, inp, os.path.join(here, name + ".onnx"), opset_version=13, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, training=mode)
            io.write(f"model {name} {out.shape[1]}\n")
            for row in out.tolist():
                io.write(" ".join(repr(v) for v in row) + "\n")
