#!/usr/bin/python3
"""tfpack: write a tinyfleet model container (protocol/CONTAINER.md) from float weights.

Input is a .npz written by numpy with:
  __meta__   a 0-d string array holding JSON:
             {"name": "digits-mlp", "version": "1.0.0", "task": "classify",
              "input": [len, ch],
              "layers": [{"op": "conv1d", "kernel": 5, "stride": 1, "act": "relu",
                          "w": "c1_w", "b": "c1_b"},
                         {"op": "maxpool1d", "kernel": 2, "stride": 2},
                         {"op": "flatten"},
                         {"op": "dense", "act": "softmax", "w": "d_w", "b": "d_b",
                          "update": true}],
              "test_tolerance": 0.05}
             dense weights are [out, in], conv1d weights [out_ch, kernel, in_ch].
  <w>, <b>   float arrays named by the layers
  train_x    optional [N, len*ch]: training inputs as the model sees them; gives the
             per-channel mean/variance and the PSI bins
  stats_x    optional: raw (unstandardised) inputs for the statistics instead of train_x
  feat_mean, feat_var  optional: the per-channel statistics the model was trained with
             (the PSI bins still come from stats_x/train_x)
  calib_x    optional: inputs for static activation quantisation (else dynamic)
  test_x     optional [k, len*ch]: self-test inputs; expected outputs are computed here
             with the same arithmetic as the C runtime

Weights of every non-update layer become int8 (symmetric; per output channel when that
lowers the quantisation error by 10 % or more, or as forced by --per-channel); the update
layer stays float32 so the device can train it. --prune F zeroes the fraction F of each
quantised tensor's smallest-magnitude weights first.

Usage: tfpack.py in.npz out.tfm [--prune F] [--per-channel auto|always|never]
                                [--psi-bins B] [--name N] [--version V]
"""
import argparse
import json
import struct
import sys

import numpy as np

MAGIC = b"TFMC"
VERSION = 1
HEADER = 128
TREC = 48
LREC = 32
NONE = 0xFFFF

DT_INT8, DT_F32, DT_I32 = 1, 2, 3
K_WEIGHT, K_BIAS, K_QSCALE, K_QZERO = 1, 2, 3, 4
K_MEAN, K_VAR, K_EDGES, K_FRAC, K_TEST_IN, K_TEST_OUT, K_OTHER = 5, 6, 7, 8, 9, 10, 11
OPS = {"dense": 1, "conv1d": 2, "maxpool1d": 3, "avgpool1d": 4, "flatten": 5}
ACTS = {None: 0, "none": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4}
TASKS = {"classify": 0, "regress": 1, "anomaly": 2}
F32 = np.float32


def align4(n):
    return (n + 3) & ~3


# --- the runtime's arithmetic, mirrored (device-agent/src/infer.c) -----------------------

def quantize_input(x, scale, zero):
    """int8 activation quantisation as the C runtime does it (float32, round half up)."""
    x = np.asarray(x, F32)
    if scale > 0:
        q = np.floor(x / F32(scale) + F32(0.5)) + zero
        return np.clip(q, -128, 127).astype(np.int32), F32(scale), int(zero)
    m = F32(np.max(np.abs(x))) if x.size else F32(0)
    s = F32(m / F32(127.0)) if m > 0 else F32(1.0)
    q = np.floor(x / s + F32(0.5))
    return np.clip(q, -127, 127).astype(np.int32), s, 0


def activate(y, act):
    y = y.astype(F32)
    if act == 1:
        return np.maximum(y, F32(0))
    if act == 2:
        return (F32(1) / (F32(1) + np.exp(-y))).astype(F32)
    if act == 3:
        return np.tanh(y).astype(F32)
    if act == 4:
        e = np.exp(y - np.max(y)).astype(F32)
        return (e / np.sum(e)).astype(F32)
    return y


def forward(layers, x, in_shape):
    """Forward pass of one sample through packed layers (dicts from build_layers)."""
    a = np.asarray(x, F32).reshape(in_shape)
    for L in layers:
        op = L["op"]
        if op == "flatten":
            a = a.reshape(1, -1)
        elif op in ("maxpool1d", "avgpool1d"):
            k, s = L["kernel"], L["stride"]
            n = (a.shape[0] - k) // s + 1
            win = np.stack([a[t * s:t * s + k] for t in range(n)])
            a = win.max(axis=1) if op == "maxpool1d" else (win.sum(axis=1) / F32(k)).astype(F32)
        else:
            if L["wq"] is not None:
                q, s, z = quantize_input(a, L["in_scale"], L["in_zero"])
                xi = q - z
                wq = L["wq"].astype(np.int64) - L["wzero"].reshape(-1, *([1] * (L["wq"].ndim - 1)))
                comb = (F32(s) * L["wscale"]).astype(F32)
                if op == "dense":
                    acc = wq.reshape(wq.shape[0], -1) @ xi.reshape(-1).astype(np.int64)
                    y = acc.astype(F32) * comb
                else:
                    k, st = L["kernel"], L["stride"]
                    n = (a.shape[0] - k) // st + 1
                    y = np.empty((n, wq.shape[0]), F32)
                    for t in range(n):
                        acc = np.einsum("okc,kc->o", wq, xi[t * st:t * st + k].astype(np.int64))
                        y[t] = acc.astype(F32) * comb
            else:
                w = L["w"].astype(F32)
                if op == "dense":
                    y = (w @ a.reshape(-1)).astype(F32)
                else:
                    k, st = L["kernel"], L["stride"]
                    n = (a.shape[0] - k) // st + 1
                    y = np.stack([np.einsum("okc,kc->o", w, a[t * st:t * st + k])
                                  for t in range(n)]).astype(F32)
            if L["b"] is not None:
                y = (y + L["b"].astype(F32)).astype(F32)
            a = y.reshape(1, -1) if op == "dense" else y
        a = activate(a, L["act_id"])
    return a.reshape(-1)


def float_forward(meta, arrays, x):
    """Reference float forward pass (no quantisation) of the model in the .npz."""
    a = np.asarray(x, np.float64).reshape(meta["input"])
    for Ld in meta["layers"]:
        op = Ld["op"]
        if op == "flatten":
            a = a.reshape(1, -1)
        elif op in ("maxpool1d", "avgpool1d"):
            k, s = Ld["kernel"], Ld.get("stride", Ld["kernel"])
            n = (a.shape[0] - k) // s + 1
            win = np.stack([a[t * s:t * s + k] for t in range(n)])
            a = win.max(axis=1) if op == "maxpool1d" else win.mean(axis=1)
        else:
            w = np.asarray(arrays[Ld["w"]], np.float64)
            b = np.asarray(arrays[Ld["b"]], np.float64) if Ld.get("b") else 0.0
            if op == "dense":
                a = (w @ a.reshape(-1) + b).reshape(1, -1)
            else:
                k, s = w.shape[1], Ld.get("stride", 1)
                n = (a.shape[0] - k) // s + 1
                a = np.stack([np.einsum("okc,kc->o", w, a[t * s:t * s + k]) for t in range(n)]) + b
        act = ACTS[Ld.get("act")]
        if act == 1:
            a = np.maximum(a, 0)
        elif act == 2:
            a = 1 / (1 + np.exp(-a))
        elif act == 3:
            a = np.tanh(a)
        elif act == 4:
            e = np.exp(a - a.max())
            a = e / e.sum()
    return a.reshape(-1)


# --- quantisation ------------------------------------------------------------------------

def prune(w, frac):
    if frac <= 0:
        return w
    k = int(np.floor(frac * w.size))
    if k == 0:
        return w
    thr = np.sort(np.abs(w).reshape(-1))[k - 1]
    w = w.copy()
    w[np.abs(w) <= thr] = 0
    return w


def quantize_weights(w, mode):
    """Symmetric int8; returns (q, scales, per_channel, mse_pt, mse_pc)."""
    w = np.asarray(w, np.float64)

    def q_with(scale):
        s = scale.reshape(-1, *([1] * (w.ndim - 1)))
        q = np.clip(np.floor(w / s + 0.5), -127, 127)
        return q, float(np.mean((q * s - w) ** 2))

    m = np.max(np.abs(w))
    pt = np.array([m / 127.0 if m > 0 else 1.0])
    mc = np.max(np.abs(w.reshape(w.shape[0], -1)), axis=1)
    pc = np.where(mc > 0, mc / 127.0, 1.0)
    q_pt, e_pt = q_with(np.repeat(pt, w.shape[0]))
    q_pc, e_pc = q_with(pc)
    use_pc = mode == "always" or (mode == "auto" and e_pc < 0.9 * e_pt)
    if use_pc:
        return q_pc.astype(np.int8), pc.astype(F32), True, e_pt, e_pc
    return q_pt.astype(np.int8), pt.astype(F32), False, e_pt, e_pc


def act_range_quant(values):
    """Asymmetric int8 parameters covering [min, max] (and 0)."""
    lo, hi = min(float(np.min(values)), 0.0), max(float(np.max(values)), 0.0)
    if hi - lo <= 0:
        return 1.0, 0
    scale = F32((hi - lo) / 255.0)
    zero = int(np.clip(np.floor(-128 - lo / float(scale) + 0.5), -128, 127))
    return float(scale), zero


# --- building ----------------------------------------------------------------------------

def build_layers(meta, arrays, prune_frac=0.0, pc_mode="auto", calib=None, log=None):
    in_len, in_ch = meta["input"]
    shape = (in_len, in_ch)
    layers = []
    for i, Ld in enumerate(meta["layers"]):
        op = Ld["op"]
        if op not in OPS:
            raise ValueError("layer %d: unknown op %r" % (i, op))
        L = {"op": op, "act_id": ACTS[Ld.get("act")], "update": bool(Ld.get("update")),
             "kernel": 0, "stride": 0, "w": None, "wq": None, "b": None,
             "in_scale": 0.0, "in_zero": 0, "in_shape": shape, "per_channel": False}
        if op == "flatten":
            out = (1, shape[0] * shape[1])
        elif op in ("maxpool1d", "avgpool1d"):
            L["kernel"], L["stride"] = Ld["kernel"], Ld.get("stride", Ld["kernel"])
            out = ((shape[0] - L["kernel"]) // L["stride"] + 1, shape[1])
        else:
            w = np.asarray(arrays[Ld["w"]], np.float64)
            L["b"] = np.asarray(arrays[Ld["b"]], F32) if Ld.get("b") else None
            if op == "dense":
                if shape[0] != 1 or w.shape[1] != shape[1]:
                    raise ValueError("layer %d: dense weights %s do not fit input %s"
                                     % (i, w.shape, shape))
                out = (1, w.shape[0])
            else:
                L["kernel"], L["stride"] = w.shape[1], Ld.get("stride", 1)
                if w.shape[2] != shape[1]:
                    raise ValueError("layer %d: conv weights %s do not fit input %s"
                                     % (i, w.shape, shape))
                out = ((shape[0] - L["kernel"]) // L["stride"] + 1, w.shape[0])
            if L["update"]:
                L["w"] = w.astype(F32)
            else:
                w = prune(w, prune_frac)
                q, sc, pc, e_pt, e_pc = quantize_weights(w, pc_mode)
                L["wq"], L["wscale"], L["per_channel"] = q, sc, pc
                L["wzero"] = np.zeros(q.shape[0], np.int64)
                if log:
                    log("layer %d %s: int8 %s (mse per-tensor %.3g, per-channel %.3g)%s"
                        % (i, op, "per-channel" if pc else "per-tensor", e_pt, e_pc,
                           ", pruned %.0f %%" % (100 * prune_frac) if prune_frac else ""))
        L["out_shape"] = out
        layers.append(L)
        shape = out
    if tuple(shape) != tuple(meta.get("output", shape)):
        raise ValueError("output shape %s != declared %s" % (shape, meta["output"]))
    if calib is not None:
        # Static activation quantisation: record each quantised layer's input range.
        ins = {i: [] for i, L in enumerate(layers) if L["wq"] is not None}
        for x in calib:
            a = np.asarray(x, F32).reshape(meta["input"])
            for i, L in enumerate(layers):
                if i in ins:
                    ins[i].append(a.reshape(-1))
                a = forward([L], a, a.shape).reshape(L["out_shape"])
        for i, vals in ins.items():
            layers[i]["in_scale"], layers[i]["in_zero"] = act_range_quant(np.concatenate(vals))
    return layers


def arena_need(in_shape, layers):
    max_act = in_shape[0] * in_shape[1]
    max_q = 0
    for L in layers:
        max_act = max(max_act, L["out_shape"][0] * L["out_shape"][1])
        if L["wq"] is not None:
            max_q = max(max_q, L["in_shape"][0] * L["in_shape"][1])
    return 2 * 4 * max_act + align4(max_q)


def psi_bins(x, bins):
    """Per-channel quantile edges [ch, bins-1] (strictly ascending) and fractions [ch, bins].
    Bin b holds values with edges[b-1] <= v < edges[b]."""
    ch = x.shape[1]
    edges = np.zeros((ch, bins - 1), F32)
    frac = np.zeros((ch, bins), F32)
    for c in range(ch):
        v = x[:, c].astype(F32)
        e = np.quantile(v, np.arange(1, bins) / bins).astype(F32)
        if np.any(np.diff(e) <= 0):
            lo, hi = float(v.min()), float(v.max())
            if hi <= lo:
                hi = lo + 1.0
            e = np.linspace(lo, hi, bins + 1)[1:-1].astype(F32)
        edges[c] = e
        idx = np.searchsorted(e, v, side="right")
        frac[c] = (np.bincount(idx, minlength=bins) / len(v)).astype(F32)
    return edges, frac


class _Writer:
    def __init__(self):
        self.tensors = []   # (name, dtype, kind, shape, bytes, scale_idx, zero_idx)

    def add(self, name, dtype, kind, arr, scale=NONE, zero=NONE):
        arr = np.asarray(arr)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        np_dt = {DT_INT8: np.int8, DT_F32: "<f4", DT_I32: "<i4"}[dtype]
        data = np.ascontiguousarray(arr.astype(np_dt)).tobytes()
        if len(name.encode()) > 16:
            raise ValueError("tensor name %r longer than 16 bytes" % name)
        self.tensors.append((name, dtype, kind, arr.shape, data, scale, zero))
        return len(self.tensors) - 1


def pack(meta, arrays, prune_frac=0.0, pc_mode="auto", psi_bin_count=10, log=None):
    """Returns (container bytes, summary dict)."""
    name = meta["name"].encode()
    version = meta.get("version", "1.0.0").encode()
    if not (0 < len(name) <= 32 and 0 < len(version) <= 24):
        raise ValueError("model name must be 1..32 bytes, version 1..24")
    in_shape = tuple(meta["input"])
    calib = arrays.get("calib_x")
    layers = build_layers(meta, arrays, prune_frac, pc_mode, calib, log)
    out_shape = layers[-1]["out_shape"]
    wr = _Writer()
    lrecs = []
    update = NONE
    for i, L in enumerate(layers):
        widx = bidx = NONE
        if L["wq"] is not None:
            sidx = wr.add("l%d.s" % i, DT_F32, K_QSCALE, L["wscale"])
            widx = wr.add("l%d.w" % i, DT_INT8, K_WEIGHT, L["wq"], scale=sidx)
        elif L["w"] is not None:
            widx = wr.add("l%d.w" % i, DT_F32, K_WEIGHT, L["w"])
        if L["b"] is not None:
            bidx = wr.add("l%d.b" % i, DT_F32, K_BIAS, L["b"])
        if L["update"]:
            if i != len(layers) - 1 or L["op"] != "dense":
                raise ValueError("the update layer must be the last layer and dense")
            update = i
        lin, lch = L["in_shape"]
        lout, loch = L["out_shape"]
        lrecs.append(struct.pack("<BBBBHHHHHHHHIfi", OPS[L["op"]], L["act_id"],
                                 1 if L["update"] else 0, 0, widx, bidx, lin, lch, lout, loch,
                                 L["kernel"], L["stride"], 0, L["in_scale"], L["in_zero"]))
    stats_src = arrays.get("stats_x", arrays.get("train_x"))
    if stats_src is not None:
        sx = np.asarray(stats_src, np.float64).reshape(-1, in_shape[1])
        # feat_mean/feat_var, when given, are the statistics the model was trained with
        # (e.g. with a floored variance); otherwise they are measured here.
        wr.add("mean", DT_F32, K_MEAN, arrays.get("feat_mean", sx.mean(axis=0)))
        wr.add("var", DT_F32, K_VAR, arrays.get("feat_var", sx.var(axis=0)))
        if psi_bin_count >= 2:
            e, f = psi_bins(sx, psi_bin_count)
            wr.add("psi_edges", DT_F32, K_EDGES, e)
            wr.add("psi_frac", DT_F32, K_FRAC, f)
    if arrays.get("test_x") is not None:
        tx = np.asarray(arrays["test_x"], F32).reshape(-1, in_shape[0] * in_shape[1])
        ty = np.stack([forward(layers, x, in_shape) for x in tx])
        wr.add("test_in", DT_F32, K_TEST_IN, tx)
        wr.add("test_out", DT_F32, K_TEST_OUT, ty)
    nt, nl = len(wr.tensors), len(lrecs)
    if nt > 64 or nl > 16:
        raise ValueError("too many tensors (%d > 64) or layers (%d > 16)" % (nt, nl))
    ttable = HEADER
    ltable = ttable + nt * TREC
    off = align4(ltable + nl * LREC)
    trecs, blobs = [], []
    for (tname, dt, kind, shp, data, sidx, zidx) in wr.tensors:
        dims = list(shp) + [1] * (4 - len(shp))
        trecs.append(struct.pack("<16sBBBB4IIIHH", tname.encode(), dt, kind, len(shp), 0,
                                 *dims, off, len(data), sidx, zidx))
        blobs.append((off, data))
        off = align4(off + len(data))
    total = off
    arena = arena_need(in_shape, layers)
    flash = int(meta.get("flash_bytes", total))
    hdr = struct.pack("<4sHHII32s24sIIBBHHHHHHHIIf20x", MAGIC, VERSION, HEADER, total, 0,
                      name, version, arena, flash, TASKS[meta.get("task", "classify")], 0,
                      nt, nl, update, in_shape[0], in_shape[1], out_shape[0], out_shape[1],
                      ttable, ltable, float(meta.get("test_tolerance", 0.02)))
    assert len(hdr) == HEADER
    img = bytearray(total)
    img[0:HEADER] = hdr
    img[ttable:ttable + nt * TREC] = b"".join(trecs)
    img[ltable:ltable + nl * LREC] = b"".join(lrecs)
    for o, d in blobs:
        img[o:o + len(d)] = d
    summary = {"bytes": total, "arena": arena, "tensors": nt, "layers": nl,
               "int8_weights": int(sum(L["wq"].size for L in layers if L["wq"] is not None)),
               "f32_weights": int(sum(L["w"].size for L in layers if L["w"] is not None))}
    return bytes(img), summary


def load_npz(path):
    z = np.load(path, allow_pickle=False)
    meta = json.loads(str(z["__meta__"]))
    arrays = {k: z[k] for k in z.files if k != "__meta__"}
    return meta, arrays


def save_npz(path, meta, **arrays):
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)


def main(argv=None):
    ap = argparse.ArgumentParser(description="write a tinyfleet model container from a .npz")
    ap.add_argument("npz")
    ap.add_argument("out")
    ap.add_argument("--prune", type=float, default=0.0, help="fraction of weights to zero")
    ap.add_argument("--per-channel", choices=["auto", "always", "never"], default="auto")
    ap.add_argument("--psi-bins", type=int, default=10)
    ap.add_argument("--name")
    ap.add_argument("--version")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if not 0.0 <= a.prune < 1.0:
        ap.error("--prune must be in [0, 1)")
    meta, arrays = load_npz(a.npz)
    if a.name:
        meta["name"] = a.name
    if a.version:
        meta["version"] = a.version
    log = None if a.quiet else (lambda s: print("tfpack: " + s, file=sys.stderr))
    try:
        img, summ = pack(meta, arrays, a.prune, a.per_channel, a.psi_bins, log)
    except (ValueError, KeyError) as e:
        print("tfpack: %s: %s" % (a.npz, e), file=sys.stderr)
        return 1
    with open(a.out, "wb") as f:
        f.write(img)
    if not a.quiet:
        print("tfpack: wrote %s: %d bytes, arena %d bytes, %d int8 + %d float32 weights"
              % (a.out, summ["bytes"], summ["arena"], summ["int8_weights"], summ["f32_weights"]),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
