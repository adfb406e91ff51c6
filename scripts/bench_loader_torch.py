"""Peer for bench-loader: torchvision's ImageFolder + DataLoader with the same transforms
(RandomResizedCrop + flip + normalize in training; fastai's validation squash to size + val_xtra
and centre crop in validation).
Prints one JSON line: {"ms_per_batch": ..., "first_batch_ms": ...}."""
import argparse, json, os, time

import torch
from torchvision import datasets, transforms

p = argparse.ArgumentParser()
p.add_argument("--root", required=True)
p.add_argument("--size", type=int, required=True)
p.add_argument("--bs", type=int, required=True)
p.add_argument("--batches", type=int, required=True)
p.add_argument("--train", action="store_true")
p.add_argument("--min-scale", type=float, default=0.08)
p.add_argument("--workers", type=int, default=2)
a = p.parse_args()

norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
if a.train:
    tf = transforms.Compose([transforms.RandomResizedCrop(a.size, scale=(a.min_scale, 1.0), ratio=(3 / 4, 4 / 3)),
                             transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
else:
    squash = a.size + -(-a.size * 14 // 800) * 8
    tf = transforms.Compose([transforms.Resize((squash, squash)), transforms.CenterCrop(a.size), transforms.ToTensor(), norm])
torch.manual_seed(0)
torch.set_num_threads(1)
ds = datasets.ImageFolder(os.path.join(a.root, "train" if a.train else "valid"), transform=tf)
dl = torch.utils.data.DataLoader(ds, batch_size=a.bs, shuffle=True, num_workers=a.workers, drop_last=True)
t0 = time.perf_counter()
it = iter(dl)
next(it)
t1 = time.perf_counter()
n = 0
for _ in range(a.batches - 1):
    x, y = next(it)
    n += 1
t2 = time.perf_counter()
print(json.dumps({"first_batch_ms": (t1 - t0) * 1000, "ms_per_batch": (t2 - t1) * 1000 / max(1, n), "shape": list(x.shape)}))
