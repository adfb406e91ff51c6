"""PyTorch peer for `npm run bench:compute`: training img/s of the same nets on one CPU thread.

Prints one JSON object: {"torch": version, "results": {net: {"img_s": ..., "cpu_img_s": ..., "step_ms": [...]}}},
with --profile also {"profile": {net: {"step_cpu_ms": ..., "ops": [{"name", "shapes", "ms"}]}}}: the
profiler's self time of every op and input shape per step, scaled so that the ops add up to the CPU time
of an unprofiled step (the profiler measures wall time, which on a shared machine counts other
processes' work, and adds its own).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


def cbr(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True)]


def bench_net(cin):
    """conv3x3 32 + BN + ReLU; for f in 64, 128, 256: stride-2 conv to f and a conv at f; GAP; dense 10."""
    layers, c = cbr(cin, 32, 1), 32
    for f in (64, 128, 256):
        layers += cbr(c, f, 2) + cbr(f, f, 1)
        c = f
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*cbr(cin, cout, stride)[:2], nn.ReLU(inplace=True),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


def resnet18(n_classes):
    """torchvision-style resnet18 (7x7 stem, max pool, [2,2,2,2] BasicBlocks, avg pool, linear)."""
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for i, f in enumerate((64, 128, 256, 512)):
        layers += [Basic(c, f, 1 if i == 0 else 2), Basic(f, f, 1)]
        c = f
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes))


def trainer(model, batch, size, ch):
    """One Adam training step on a fixed random batch, as a function."""
    torch.manual_seed(0)
    x = torch.randn(batch, ch, size, size)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def measure(model, batch, size, ch, warmup, steps):
    step = trainer(model, batch, size, ch)
    wall, cpu = [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if i >= warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {"img_s": batch / statistics.median(wall), "cpu_img_s": batch / statistics.median(cpu),
            "step_ms": [round(w * 1000, 1) for w in wall]}


def profile(model, batch, size, ch, steps=3):
    step = trainer(model, batch, size, ch)
    step()
    c0 = time.process_time()
    for _ in range(steps):
        step()
    cpu_ms = (time.process_time() - c0) * 1000 / steps
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    ops = [(e.key, e.input_shapes, e.self_cpu_time_total / 1000 / steps) for e in prof.key_averages(group_by_input_shape=True)]
    scale = cpu_ms / sum(ms for _, _, ms in ops)
    return {"step_cpu_ms": cpu_ms, "ops": [{"name": n, "shapes": sh, "ms": ms * scale} for n, sh, ms in ops if ms > 0]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--resnet18", action="store_true", help="also resnet18 (same as --nets bench,resnet18)")
    p.add_argument("--nets", default="bench", help="comma-separated: bench (the benchmark net), resnet18")
    p.add_argument("--profile", action="store_true", help="also each op's CPU ms per step (the benchmark net)")
    a = p.parse_args()
    nets = set(a.nets.split(",")) | ({"resnet18"} if a.resnet18 else set())
    if not nets <= {"bench", "resnet18"}:
        p.error(f"--nets: unknown net(s) {sorted(nets - {'bench', 'resnet18'})}, expected bench and/or resnet18")
    torch.set_num_threads(1)
    specs = {"bench": ("bench-net 28x28x1 b64", lambda: bench_net(1), 64, 28, 1),
             "resnet18": ("resnet18 64px b32", lambda: resnet18(10), 32, 64, 3)}
    chosen = [specs[n] for n in ("bench", "resnet18") if n in nets]
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
    for key, build, batch, size, ch in chosen:
        out["results"][key] = measure(build(), batch, size, ch, a.warmup, a.steps)
    if a.profile:
        out["profile"] = {key: profile(build(), batch, size, ch) for key, build, batch, size, ch in chosen}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
