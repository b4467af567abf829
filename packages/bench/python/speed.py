#!/usr/bin/env python3
"""PyTorch side of `dqa bench speed`: the same two models and three variants as the tfjs side.

    /usr/bin/python3 speed.py '<SpeedRequest JSON>'

Writes one JSON object per line on stdout (the protocol of packages/bench/src/speed/protocol.ts):
`hello`, `progress` after each step, `cell` with the timed steps' durations in milliseconds,
`cell-error`, or `unavailable` when torch cannot be imported. The parent computes the medians.

PyTorch is never a dependency of DQA-TS: packages/bench/scripts/install-torch.sh installs Debian's
python3-torch for this reference run only.

Variants (as in packages/bench/src/speed/spec.ts; every Conv2d and Linear quantized, the first and
the last layer included; batch norm in float):
- fp:     the stock layers.
- ste2:   2-bit min-max weights (eq. 10, 13: 4 levels from min(w) to max(w), nearest level, ties
          up), straight-through gradient (a custom autograd Function).
- dqa248: q = sum_k a_k Q_k(w) over 2/4/8-bit min-max (eq. 1-3), a = softmax(alpha / T) (eq. 4),
          alpha initialised by eq. 7 and normalised by its population std before each step
          (Algorithm 1), T cooled exponentially from 100 to 0.03 over the run (eq. 5), and the
          regularizer lambda * g.a / S (eq. 6) with g = [1, 4, 16], lambda = 1, S the float
          model's parameter count, added to the loss.
"""

import json
import math
import sys
import time


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the parent prints how to install it and goes on without this column
    send({"type": "unavailable", "reason": f"PyTorch is not installed for {sys.executable} ({e})"})
    sys.exit(0)


# --- quantizers -------------------------------------------------------------------------------


def minmax_quantize(w, bits):
    """Eq. 10, 13: 2^bits uniform levels from min(w) to max(w), nearest level (floor(v + 0.5))."""
    levels = 2**bits
    lo = w.min()
    step = (w.max() - lo) / (levels - 1)
    safe = torch.where(step > 0, step, torch.ones_like(step))
    code = torch.clamp(torch.floor((w - lo) / safe + 0.5), 0, levels - 1)
    return code * step + lo


class MinMaxSTE(torch.autograd.Function):
    """Q(w; n) forward, identity backward (the straight-through estimator); min/max get none."""

    @staticmethod
    def forward(ctx, w, bits):
        return minmax_quantize(w.detach(), bits)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class SteWeights(nn.Module):
    def __init__(self, bits):
        super().__init__()
        self.bits = bits

    def before_step(self, step, total):
        pass

    def forward(self, w):
        return MinMaxSTE.apply(w, self.bits)

    def regularizer(self, total_weights):
        return None


class DqaWeights(nn.Module):
    def __init__(self, bits=(2, 4, 8), lam=1.0, t0=100.0, t_end=0.03):
        super().__init__()
        self.bits = list(bits)
        total = sum(self.bits)
        # Eq. 7: alpha_k = sum_{j != k} n_j / sum_j n_j.
        self.alpha = nn.Parameter(torch.tensor([(total - n) / total for n in self.bits]))
        self.register_buffer("g", torch.tensor([4.0**k for k in range(len(self.bits))]))
        self.lam, self.t0, self.t_end = lam, t0, t_end
        self.T = t0

    def before_step(self, step, total):
        # Eq. 5: T(b) = T0 * (T(B)/T0)^(b/B); Algorithm 1: alpha <- alpha / std(alpha).
        self.T = self.t0 * (self.t_end / self.t0) ** (min(step, total) / total)
        with torch.no_grad():
            std = self.alpha.std(unbiased=False)
            if std > 0:
                self.alpha.div_(std)

    def attention(self):
        return torch.softmax(self.alpha / self.T, dim=0)  # eq. 4

    def forward(self, w):
        a = self.attention()
        q = None
        for k, n in enumerate(self.bits):
            term = MinMaxSTE.apply(w, n) * a[k]
            q = term if q is None else q + term
        return q

    def regularizer(self, total_weights):
        return self.lam * torch.dot(self.g, self.attention()) / total_weights  # eq. 6


class QConv2d(nn.Conv2d):
    def __init__(self, *args, quantizer, **kwargs):
        super().__init__(*args, **kwargs)
        self.quantizer = quantizer

    def forward(self, x):
        return self._conv_forward(x, self.quantizer(self.weight), self.bias)


class QLinear(nn.Linear):
    def __init__(self, *args, quantizer, **kwargs):
        super().__init__(*args, **kwargs)
        self.quantizer = quantizer

    def forward(self, x):
        return F.linear(x, self.quantizer(self.weight), self.bias)


def make_quantizer(variant):
    if variant == "ste2":
        return SteWeights(2)
    if variant == "dqa248":
        return DqaWeights((2, 4, 8), lam=1.0)
    raise ValueError(f"unknown variant {variant!r}")


def conv(variant, *args, **kwargs):
    if variant == "fp":
        return nn.Conv2d(*args, **kwargs)
    return QConv2d(*args, quantizer=make_quantizer(variant), **kwargs)


def linear(variant, *args, **kwargs):
    if variant == "fp":
        return nn.Linear(*args, **kwargs)
    return QLinear(*args, quantizer=make_quantizer(variant), **kwargs)


# --- models -----------------------------------------------------------------------------------


class SmallCnn(nn.Module):
    """conv3x3 1->32 'same' ReLU, maxpool 2, conv3x3 32->64 'same' ReLU, maxpool 2, dense 3136->10."""

    def __init__(self, variant):
        super().__init__()
        self.conv1 = conv(variant, 1, 32, 3, padding=1)
        self.conv2 = conv(variant, 32, 64, 3, padding=1)
        self.fc = linear(variant, 3136, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, variant, cin, cout, stride):
        super().__init__()
        self.conv1 = conv(variant, cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv(variant, cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:  # 1x1 projection at stride 2 (option B), as on the tfjs side
            self.shortcut = nn.Sequential(
                conv(variant, cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        r = F.relu(self.bn1(self.conv1(x)))
        r = self.bn2(self.conv2(r))
        return F.relu(r + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet20(nn.Module):
    def __init__(self, variant):
        super().__init__()
        self.conv = conv(variant, 3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(3):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(variant, cin, width, stride))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = linear(variant, 64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {
    "small-cnn": (SmallCnn, (1, 28, 28)),
    "resnet20": (ResNet20, (3, 32, 32)),
}


def float_params(model):
    """Trainable parameters of the float network (S of eq. 6): without DQA's alphas."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.endswith("alpha"))


# --- measurement ------------------------------------------------------------------------------


def measure_cell(request, model_id, variant):
    build, shape = MODELS[model_id]
    batch = request["batch"][model_id]
    torch.manual_seed(0)
    model = build(variant)
    model.train()
    params = float_params(model)
    quantizers = [m for m in model.modules() if isinstance(m, (SteWeights, DqaWeights))]
    optimizer = torch.optim.SGD(
        model.parameters(), lr=request["learningRate"], momentum=request["momentum"]
    )
    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(7))
    labels = torch.tensor([(i * 7) % 10 for i in range(batch)])

    warmup, steps = request["warmup"], request["steps"]
    total = warmup + steps
    budget_ms = request["timeBudgetS"] * 1000.0
    steps_ms, timed_ms, loss_value = [], 0.0, math.nan
    for i in range(total):
        t0 = time.perf_counter()
        for q in quantizers:
            q.before_step(i, total)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), labels)
        for q in quantizers:
            r = q.regularizer(params)
            if r is not None:
                loss = loss + r
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        ms = (time.perf_counter() - t0) * 1000.0
        warm = i < warmup
        if not warm:
            steps_ms.append(ms)
            timed_ms += ms
        send(
            {
                "type": "progress",
                "model": model_id,
                "variant": variant,
                "phase": "warmup" if warm else "timed",
                "step": i + 1 if warm else len(steps_ms),
                "steps": warmup if warm else steps,
                "ms": ms,
            }
        )
        if not warm and budget_ms > 0 and timed_ms >= budget_ms and len(steps_ms) >= request["minSteps"]:
            break
    send(
        {
            "type": "cell",
            "model": model_id,
            "variant": variant,
            "batch": batch,
            "warmup": warmup,
            "stepsMs": steps_ms,
            "params": params,
            "loss": loss_value,
        }
    )


def main():
    request = json.loads(sys.argv[1])
    torch.set_num_threads(request.get("threads", 2))
    details = f"{torch.get_num_threads()} threads, oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"
    send({"type": "hello", "engine": "pytorch", "version": torch.__version__, "details": details})
    for model_id in request["models"]:
        for variant in request["variants"]:
            try:
                measure_cell(request, model_id, variant)
            except Exception as e:  # report and go on with the other cells
                send({"type": "cell-error", "model": model_id, "variant": variant, "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
