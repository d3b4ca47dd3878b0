#!/usr/bin/python3
"""Generate the delta benchmark corpus: pairs (old, new) of model images.

Reproducible (fixed seeds, Debian's python3-numpy and python3-sklearn only). Models are
trained here with plain numpy (SGD with momentum, softmax cross-entropy):

  mlp_s    sklearn digits, 64-128-10 dense                  (int8 ~10 KB, float32 ~40 KB)
  mlp_l    sklearn digits, 64-512-384-10 dense              (int8 ~235 KB, float32 ~0.9 MB;
           with the inserted layer ~2 MB)
  cnn1d    synthetic 3-axis sensor windows (128 steps, 6 classes), conv1d 3->32 k5 s2,
           dense 64, dense 6                                (int8 ~130 KB, float32 ~510 KB)
  cnn2d    sklearn digits as 8x8 images, conv2d 1->16 3x3, dense 128, dense 10
                                                            (int8 ~75 KB, float32 ~300 KB)

and for each model the update scenarios:

  full     full fine-tune on drifted data (gain/offset on inputs), 4 epochs
  light    light fine-tune: 30 small steps
  last     last layer only retrained (TinyOL-style head update)
  widen    first hidden layer widened by 25 % (new units random), then full fine-tune
  insert   a dense layer inserted after the first hidden layer, then full fine-tune
  prune    50 % magnitude pruning + fine-tune with the mask
  reseed   retrained from scratch with another seed

int8 models that the model container can express (MLPs, 1-D CNN) are real containers
(protocol/CONTAINER.md) written by the project's packer tools/model/tfpack.py: int8 weights
with per-tensor or per-channel scales, the last (TinyOL update) layer float32, training
statistics, PSI bins and self-test vectors of the data each version was trained on. The
container has no 2-D convolution and quantizes every non-update layer, so the 2-D CNN and
every float32 model use the fallback tensor layout "TFTT" (protocol/delta/FORMAT.md), with
per-tensor symmetric int8 quantization for the int8 2-D CNN.

usage: gen_corpus.py OUTDIR [--quick]
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_digits


def digits():
    d = load_digits()
    x = d.data.astype(np.float32) / 16.0
    return x, d.target.astype(np.int64)


def sensor(seed=7, n=1200, steps=128, classes=6):
    """Synthetic accelerometer windows: class = frequency/axis pattern plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    t = np.arange(steps, dtype=np.float32) / steps
    x = np.zeros((n, 3, steps), np.float32)
    for i in range(n):
        f = 2 + 2 * y[i]
        ph = rng.uniform(0, 2 * np.pi)
        axis = y[i] % 3
        x[i, axis] = np.sin(2 * np.pi * f * t + ph)
        x[i, (axis + 1) % 3] = 0.5 * np.sign(np.sin(2 * np.pi * (f / 2) * t + ph))
        x[i] += rng.normal(0, 0.3, (3, steps))
    return x, y


# ---- layers: parameters in dicts name -> array; forward keeps caches ----------------------

def im2col_1d(x, k, s):
    n, c, L = x.shape
    out = (L - k) // s + 1
    idx = np.arange(k)[None, :] + s * np.arange(out)[:, None]
    cols = x[:, :, idx]                      # n, c, out, k
    return cols.transpose(0, 2, 1, 3).reshape(n, out, c * k), out


def im2col_2d(x, k):
    n, c, h, w = x.shape
    oh, ow = h - k + 1, w - k + 1
    cols = np.empty((n, oh, ow, c, k, k), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, :, i, j] = x[:, :, i:i + oh, j:j + ow].transpose(0, 2, 3, 1)
    return cols.reshape(n, oh * ow, c * k * k), oh * ow


class Net:
    """Optional first conv layer, then dense layers with ReLU; softmax output."""

    def __init__(self, arch, rng):
        self.arch = arch
        self.p = {}
        self.order = []
        kind = arch["conv"]
        if kind:
            cin, cout, k = arch["cin"], arch["cout"], arch["k"]
            fan = cin * k * (k if kind == "2d" else 1)
            self.add("conv.w", rng.normal(0, np.sqrt(2 / fan), (cout, fan)))
            self.add("conv.b", np.zeros(cout))
        dims = arch["dense"]
        for i in range(len(dims) - 1):
            self.add("d%d.w" % i, rng.normal(0, np.sqrt(2 / dims[i]), (dims[i + 1], dims[i])))
            self.add("d%d.b" % i, np.zeros(dims[i + 1]))

    def add(self, name, arr):
        self.p[name] = arr.astype(np.float32)
        if name not in self.order:
            self.order.append(name)

    def dense_names(self):
        return sorted({n[:-2] for n in self.p if n.startswith("d")}, key=lambda s: int(s[1:]))

    def forward(self, x):
        cache = []
        a = x
        if self.arch["conv"]:
            if self.arch["conv"] == "1d":
                cols, out = im2col_1d(a, self.arch["k"], self.arch["stride"])
            else:
                cols, out = im2col_2d(a.reshape(-1, 1, 8, 8), self.arch["k"])
            z = cols @ self.p["conv.w"].T + self.p["conv.b"]
            cache.append(("conv", cols, z))
            a = np.maximum(z, 0).reshape(len(x), -1)
        names = self.dense_names()
        for i, nm in enumerate(names):
            z = a @ self.p[nm + ".w"].T + self.p[nm + ".b"]
            cache.append((nm, a, z))
            a = np.maximum(z, 0) if i + 1 < len(names) else z
        return a, cache

    def grads(self, x, y):
        logits, cache = self.forward(x)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = p
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        out = {}
        for idx in range(len(cache) - 1, -1, -1):
            nm, a_in, z = cache[idx]
            if idx + 1 < len(cache) or nm == "conv":
                pass
            if nm == "conv":
                gz = g.reshape(z.shape) * (z > 0)
                out["conv.w"] = np.einsum("nlo,nlf->of", gz, a_in)
                out["conv.b"] = gz.sum((0, 1))
                break
            out[nm + ".w"] = g.T @ a_in
            out[nm + ".b"] = g.sum(0)
            g = g @ self.p[nm + ".w"]
            if idx > 0:
                prev_z = cache[idx - 1][2]
                g = g * (prev_z.reshape(len(x), -1) > 0)
        return out

    def train(self, x, y, epochs, lr, rng, only=None, masks=None, steps=None, bs=64):
        vel = {k: np.zeros_like(v) for k, v in self.p.items()}
        done = 0
        for _ in range(epochs):
            perm = rng.permutation(len(x))
            for s in range(0, len(x), bs):
                b = perm[s:s + bs]
                g = self.grads(x[b], y[b])
                for k, gv in g.items():
                    if only is not None and not k.startswith(only):
                        continue
                    vel[k] = 0.9 * vel[k] - lr * gv
                    self.p[k] += vel[k].astype(np.float32)
                    if masks and k in masks:
                        self.p[k] *= masks[k]
                done += 1
                if steps is not None and done >= steps:
                    return

    def accuracy(self, x, y):
        return float((self.forward(x)[0].argmax(1) == y).mean())

    def copy(self):
        n = Net.__new__(Net)
        n.arch = dict(self.arch)
        n.p = {k: v.copy() for k, v in self.p.items()}
        n.order = list(self.order)
        return n


# ---- image writer: TFTT layout --------------------------------------------------------------

DT_INT8, DT_F32 = 1, 2


def tensors_for(net, quant):
    out = []
    for name in net.order:
        w = net.p[name]
        if quant and name.endswith(".w"):
            scale = max(float(np.abs(w).max()), 1e-8) / 127.0
            q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            out.append((name, DT_INT8, q.shape, q.tobytes()))
            out.append((name + ".scale", DT_F32, (1,), np.float32(scale).tobytes()))
        else:
            out.append((name, DT_F32, w.shape, w.astype("<f4").tobytes()))
    return out


def write_image(path, net, quant):
    ts = tensors_for(net, quant)
    off = 8 + 60 * len(ts)
    hdr = bytearray(b"TFTT" + struct.pack("<I", len(ts)))
    data = bytearray()
    for name, dt, shape, raw in ts:
        dims = list(shape) + [0] * (4 - len(shape))
        if dt == DT_F32:   # keep float tensors 4-byte aligned
            while (off + len(data)) % 4:
                data.append(0)
        hdr += name.encode().ljust(32, b"\0")[:32]
        hdr += struct.pack("<BBH4III", dt, len(shape), 0, *dims, off + len(data), len(raw))
        data += raw
    with open(path, "wb") as f:
        f.write(hdr + data)


TFPACK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "model",
                      "tfpack.py")


def write_container(path, net, data_x, version):
    """int8 model container through the project's packer (MLP and 1-D CNN only)."""
    arrays, layers = {}, []
    if net.arch["conv"] == "1d":
        cout, cin, k = net.arch["cout"], net.arch["cin"], net.arch["k"]
        w = net.p["conv.w"].reshape(cout, cin, k).transpose(0, 2, 1)
        arrays["conv_w"], arrays["conv_b"] = w, net.p["conv.b"]
        layers.append({"op": "conv1d", "kernel": k, "stride": net.arch["stride"],
                       "act": "relu", "w": "conv_w", "b": "conv_b"})
        layers.append({"op": "flatten"})
        x = data_x.transpose(0, 2, 1).reshape(len(data_x), -1)   # [len, ch] time-major
        inp = [data_x.shape[2], data_x.shape[1]]
    else:
        x = data_x.reshape(len(data_x), -1)
        inp = [1, x.shape[1]]
    names = net.dense_names()
    for i, nm in enumerate(names):
        last = i + 1 == len(names)
        arrays[nm + "_w"], arrays[nm + "_b"] = net.p[nm + ".w"], net.p[nm + ".b"]
        layers.append({"op": "dense", "act": "softmax" if last else "relu", "w": nm + "_w",
                       "b": nm + "_b", "update": last})
    meta = {"name": "bench-" + net.arch["name"], "version": version, "task": "classify",
            "input": inp, "layers": layers, "test_tolerance": 0.05}
    arrays["__meta__"] = np.array(json.dumps(meta))
    arrays["stats_x"] = x[:400]
    arrays["test_x"] = x[:4]
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "m.npz")
        np.savez(npz, **arrays)
        subprocess.run([sys.executable, TFPACK, npz, path, "-q"], check=True)


# ---- scenarios ----------------------------------------------------------------------------

def drift(x):
    return (x * 0.85 + 0.1).astype(np.float32)


def scenarios(base, arch, x, y, rng, quick):
    ep = 2 if quick else 4
    xd = drift(x)
    out = {}

    n = base.copy()
    n.train(xd, y, ep, 0.02, rng)
    out["full"] = n

    n = base.copy()
    n.train(xd, y, 1, 0.002, rng, steps=30)
    out["light"] = n

    n = base.copy()
    last = base.dense_names()[-1]
    n.train(xd, y, ep, 0.05, rng, only=last + ".")
    out["last"] = n

    # Widen the first dense layer's outputs by 25 %: new rows random, next layer's inputs
    # get new (zero) columns, then fine-tune everything.
    n = base.copy()
    d0, d1 = n.dense_names()[0], n.dense_names()[1]
    w0, b0, w1 = n.p[d0 + ".w"], n.p[d0 + ".b"], n.p[d1 + ".w"]
    extra = max(1, w0.shape[0] // 4)
    n.p[d0 + ".w"] = np.vstack([w0, rng.normal(0, np.sqrt(2 / w0.shape[1]),
                                               (extra, w0.shape[1]))]).astype(np.float32)
    n.p[d0 + ".b"] = np.concatenate([b0, np.zeros(extra, np.float32)])
    n.p[d1 + ".w"] = np.hstack([w1, np.zeros((w1.shape[0], extra), np.float32)])
    n.arch["dense"] = list(arch["dense"])
    n.arch["dense"][1] += extra
    n.train(xd, y, ep, 0.02, rng)
    out["widen"] = n

    # Insert a dense layer (identity plus noise) after the first hidden layer. Layers after
    # it keep their names shifted by one index, as a container numbering layers would.
    n = base.copy()
    names = n.dense_names()
    h = n.p[names[0] + ".w"].shape[0]
    newp, order = {}, []
    for nm in n.order:
        if nm.startswith("conv"):
            newp[nm] = n.p[nm]
            order.append(nm)
    for i, nm in enumerate(names):
        j = i if i == 0 else i + 1
        newp["d%d.w" % j] = n.p[nm + ".w"]
        newp["d%d.b" % j] = n.p[nm + ".b"]
        if i == 0:
            newp["d1.w"] = (np.eye(h) + rng.normal(0, 0.01, (h, h))).astype(np.float32)
            newp["d1.b"] = np.zeros(h, np.float32)
    n.p = newp
    n.order = order + sorted([k for k in newp if k.startswith("d")],
                             key=lambda s: (int(s[1:s.index(".")]), s))
    n.arch["dense"] = [arch["dense"][0], h] + list(arch["dense"][1:])
    n.train(xd, y, ep, 0.01, rng)
    out["insert"] = n

    n = base.copy()
    masks = {}
    for k, v in n.p.items():
        if k.endswith(".w"):
            thr = np.quantile(np.abs(v), 0.5)
            masks[k] = (np.abs(v) > thr).astype(np.float32)
            n.p[k] = v * masks[k]
    n.train(xd, y, ep, 0.01, rng, masks=masks)
    out["prune"] = n

    n = Net(arch, np.random.default_rng(1234))
    n.train(x, y, 2 * ep, 0.05, np.random.default_rng(99))
    out["reseed"] = n
    return out


MODELS = {
    "mlp_s": dict(conv=None, dense=[64, 128, 10], data="digits"),
    "cnn2d": dict(conv="2d", cin=1, cout=16, k=3, dense=[576, 128, 10], data="digits2d"),
    "cnn1d": dict(conv="1d", cin=3, cout=32, k=5, stride=2, dense=[62 * 32, 64, 6],
                  data="sensor"),
    "mlp_l": dict(conv=None, dense=[64, 512, 384, 10], data="digits"),
}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 1
    outdir = sys.argv[1]
    quick = "--quick" in sys.argv
    os.makedirs(outdir, exist_ok=True)
    for mname, arch in MODELS.items():
        if arch["data"] == "sensor":
            x, y = sensor()
        else:
            x, y = digits()
        rng = np.random.default_rng(42)
        base = Net(arch, rng)
        base.train(x, y, 4 if quick else 8, 0.05, rng)
        acc0 = base.accuracy(x, y)
        ups = scenarios(base, arch, x, y, rng, quick)
        base.arch["name"] = mname
        for quant, tag in ((True, "i8"), (False, "f32")):
            old = os.path.join(outdir, "%s_%s_base.bin" % (mname, tag))
            as_container = quant and arch["conv"] != "2d"
            if as_container:
                write_container(old, base, x, "1.0.0")
            else:
                write_image(old, base, quant)
            for sname, net in ups.items():
                out = os.path.join(outdir, "%s_%s_%s.bin" % (mname, tag, sname))
                if as_container:
                    net.arch["name"] = mname
                    write_container(out, net, x if sname == "reseed" else drift(x), "1.1.0")
                else:
                    write_image(out, net, quant)
        print("%s: base acc %.3f; %s" % (mname, acc0, " ".join(
            "%s=%.3f" % (k, v.accuracy(drift(x), y)) for k, v in ups.items())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
