/**
 * PyTorch peer of bench:gpu: the same nets, batch and optimizer on the same GPU. The Python
 * source travels inside this module so the packed single-file bundle (pack-for-gpu-host) needs
 * no file beside it. PyTorch runs with its defaults (fp32 tensors; cuDNN may use TF32 inside
 * convolutions, as every PyTorch user gets).
 */
import { spawnSync } from 'child_process';

const SOURCE = String.raw`
import json, statistics, sys, time
try:
    import torch
    import torch.nn as nn
except Exception as e:
    print(json.dumps({"error": "torch does not import: %s" % e})); sys.exit(0)
if not torch.cuda.is_available():
    print(json.dumps({"error": "torch %s imports but sees no CUDA GPU" % torch.__version__})); sys.exit(0)
a = json.loads(sys.argv[1])
dev = torch.device("cuda")

def cbr(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True)]

def bench_net():
    layers, c = cbr(3, 32, 1), 32
    for f in (64, 128, 256):
        layers += cbr(c, f, 2) + cbr(f, f, 1)
        c = f
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

def measure(model, batch, size, warmup, steps):
    torch.manual_seed(0)
    model = model.to(dev).train()
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    wall = []
    for i in range(warmup + steps):
        torch.cuda.synchronize(); t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= warmup:
            wall.append(time.perf_counter() - t0)
    return {"img_s": batch / statistics.median(wall), "step_ms": [round(w * 1000, 2) for w in wall]}

out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "results": {}}
if "cnn" in a["nets"]:
    out["results"]["cnn"] = measure(bench_net(), a["cnnBatch"], a["cnnSize"], a["warmup"], a["steps"])
if "mobilenet_v2" in a["nets"]:
    try:
        import torchvision
        out["results"]["mobilenet_v2"] = measure(torchvision.models.mobilenet_v2(num_classes=10), a["mobilenetBatch"], a["mobilenetSize"], a["warmup"], a["steps"])
    except ImportError as e:
        out["results"]["mobilenet_v2"] = {"error": "torchvision does not import: %s" % e}
print(json.dumps(out))
`;

/** What the peer measured: img/s per net (or why a net is missing), or why there is no peer at all. */
export type TorchPeer =
  { torch: string; gpu: string; results: Record<string, { img_s: number; step_ms: number[] } | { error: string }> } | { error: string };

/** Runs the PyTorch peer with `python3` (or $RINGTUNE_PYTHON); never throws. */
export function torchPeer(args: {
  nets: string[];
  cnnSize: number;
  cnnBatch: number;
  mobilenetSize: number;
  mobilenetBatch: number;
  warmup: number;
  steps: number;
}): TorchPeer {
  const python = process.env.RINGTUNE_PYTHON ?? 'python3';
  const r = spawnSync(python, ['-c', SOURCE, JSON.stringify(args)], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.error) return { error: `${python} did not run: ${r.error.message}` };
  if (r.status !== 0) return { error: `PyTorch peer failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { error: `PyTorch peer printed no result: ${r.stdout.slice(-200)}` };
  }
}
