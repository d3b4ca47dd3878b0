#!/usr/bin/python3
"""Size and memory report of the Cortex-M4 agent, checked against firmware/budgets.txt.

Reads the GNU ld map file of the agent image (fw_agent.elf) and attributes every input
section that the link kept to a component, as flash (.text, .rodata, .ARM.exidx, and the
load image of .data) and static RAM (.data, .bss); the build-time assets (model images,
patch, manifest, key, data stream) and the stand-in model slot are listed apart and are
not agent code. With --bench, adds what fw_bench.elf measured on the target (peak stack
by stack painting, struct sizes, the mbedTLS arena a verify needs, instruction counts).
Exit status 1 when a budget is exceeded (each line says which), else 0.

Usage: size_report.py --budgets budgets.txt --map fw_agent.map [--bench fw_bench.out]
                      [--objects]
"""
import argparse
import os
import re
import sys

COMPONENTS = [  # (archive or object pattern, component name)
    (r"libtfa\.a", "agent core (device-agent/src)"),
    (r"libtfp\.a", "protocol (protocol/src)"),
    (r"libtfp_delta\.a", "delta applier (protocol/delta)"),
    (r"libfw_mbedtls\.a", "mbedTLS 2.28 (ES256 verify)"),
    (r"libfw_cbor\.a", "libcbor (stream decoder, encoders)"),
    (r"libtfa_port_mps2\.a", "board port (mps2-an386)"),
    (r"libc_nano\.a|libm\.a|libgcc\.a|libnosys\.a", "newlib-nano, libm, libgcc"),
    (r"fw_assets\.S", "ASSETS"),
    (r"libfw_common\.a|app_[a-z]+\.c", "firmware glue (firmware/src)"),
]
FLASH_SECTIONS = (".text", ".ARM.exidx", ".rodata")


def component_of(path):
    for pat, name in COMPONENTS:
        if re.search(pat, path):
            return name
    return "other: " + os.path.basename(path)


def parse_map(path):
    """Yields (output section, input section, size, file) for every kept input section."""
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    try:
        start = lines.index("Linker script and memory map")
    except ValueError:
        sys.exit("size_report: %s is not a GNU ld map file" % path)
    out_sec = None
    pending = None
    for line in lines[start + 1:]:
        m = re.match(r"^(\.[\w.]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+", line)
        if m:
            out_sec = m.group(1)
            continue
        if re.match(r"^(\.[\w.]+)\s*$", line):
            out_sec = line.strip()
            continue
        m = re.match(r"^ (\S+)\s*$", line)
        if m and m.group(1).startswith("."):
            pending = m.group(1)
            continue
        m = re.match(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m and out_sec is not None:
            in_sec = m.group(1) or pending
            pending = None
            if in_sec is None or in_sec == "*fill*":
                continue
            yield out_sec, in_sec, int(m.group(3), 16), m.group(4)
        else:
            pending = None if not line.startswith(" ") else pending


def read_budgets(path):
    b = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^([a-z_]+)\s+([0-9]+)", line)
        if m:
            b[m.group(1)] = int(m.group(2))
    return b


def read_bench(path):
    v = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^bench (\w+)=(\d+)", line)
        if m:
            v[m.group(1)] = int(m.group(2))
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--elf")
    ap.add_argument("--bench", action="append", default=[],
                    help="fw_bench output (and fw_ota's, when built); repeatable")
    ap.add_argument("--objects", action="store_true", help="also list objects")
    a = ap.parse_args()
    budgets = read_budgets(a.budgets)
    comp = {}
    objs = {}
    slot = 0
    for out_sec, in_sec, size, path in parse_map(a.map):
        name = component_of(path)
        if out_sec.startswith(".slots"):
            slot += size
            continue
        if out_sec.startswith(".stack"):
            continue
        c = comp.setdefault(name, [0, 0, 0])
        o = objs.setdefault((name, re.sub(r"^.*/", "", path)), [0, 0, 0])
        if out_sec.startswith(FLASH_SECTIONS):
            idx = 0
        elif out_sec.startswith(".data"):
            idx = 1
        elif out_sec.startswith(".bss"):
            idx = 2
        else:
            continue
        c[idx] += size
        o[idx] += size
    print("Cortex-M4F (-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os, "
          "newlib-nano), fw_agent.elf, from %s" % os.path.basename(a.map))
    print("%-40s %8s %8s %8s" % ("component", "text", "data", "bss"))
    tot = [0, 0, 0]
    for name in sorted(comp, key=lambda n: (n == "ASSETS", -comp[n][0])):
        if name == "ASSETS":
            continue
        t, d, b = comp[name]
        print("%-40s %8d %8d %8d" % (name, t, d, b))
        for i in range(3):
            tot[i] += comp[name][i]
    print("%-40s %8d %8d %8d" % ("agent total", tot[0], tot[1], tot[2]))
    if "ASSETS" in comp:
        print("%-40s %8d %8d %8d" % ("(not agent: embedded test assets)", *comp["ASSETS"]))
    print("%-40s %8d %8s %8s" % ("(not agent: model slot region .slots)", slot, "", ""))
    if a.objects:
        print("\nper object (text data bss):")
        for (name, obj), (t, d, b) in sorted(objs.items(), key=lambda kv: -kv[1][0]):
            if name != "ASSETS" and t + d + b > 0:
                print("  %-32s %-40s %7d %6d %7d" % (obj, name, t, d, b))

    fails = []

    def check(what, value, key):
        limit = budgets.get(key)
        state = "ok" if limit is None or value <= limit else "OVER BUDGET"
        print("budget %-28s %7d <= %-7s %s" % (what, value, limit, state))
        if state != "ok":
            fails.append(what)

    print()
    agent_flash = tot[0] + tot[1]
    check("agent flash (text+data)", agent_flash, "agent_flash_max")
    check("agent static RAM (data+bss)", tot[1] + tot[2], "agent_static_ram_max")
    if a.bench:
        v = {}
        for path in a.bench:
            v.update(read_bench(path))
        need = ["ram_struct_tfa_tinyol", "ram_struct_tfa_drift", "ram_struct_tfa_model",
                "ram_inference_arena", "ram_struct_tfp_delta_apply"]
        missing = [k for k in need if k not in v]
        if missing:
            print("size_report: the bench output lacks " + ", ".join(missing))
            return 1
        state = (v["ram_struct_tfa_tinyol"] + v["ram_struct_tfa_drift"] +
                 v["ram_struct_tfa_model"] + v["ram_inference_arena"])
        print("agent state, 64 features / 10 classes: tinyol %d + drift %d + model %d + "
              "arena %d = %d bytes" % (v["ram_struct_tfa_tinyol"], v["ram_struct_tfa_drift"],
                                       v["ram_struct_tfa_model"], v["ram_inference_arena"],
                                       state))
        check("agent state RAM", state, "agent_state_ram_max")
        check("delta applier RAM", v["ram_struct_tfp_delta_apply"], "delta_applier_ram_max")
        if "ram_struct_tfa_ota" in v:
            check("OTA state machine RAM", v["ram_struct_tfa_ota"], "ota_ram_max")
        peaks = {k: n for k, n in v.items() if k.startswith("stack_peak_")}
        for k in sorted(peaks):
            check("stack " + k[len("stack_peak_"):], peaks[k], "stack_peak_max")
        if "mbedtls_heap_min_for_verify" in v:
            check("mbedTLS arena a verify needs", v["mbedtls_heap_min_for_verify"],
                  "mbedtls_heap")
        print()
        hz = 64e6
        for k, label in (("insns_per_inference_tinyol_predict", "inference (TinyOL predict)"),
                         ("insns_per_inference_frozen_model", "inference (frozen model)"),
                         ("insns_per_sgd_step", "one SGD step"),
                         ("insns_per_drift_update", "drift detectors, one sample"),
                         ("insns_per_kb_patch", "delta, per KB of patch"),
                         ("insns_per_kb_output", "delta, per KB of new image"),
                         ("insns_manifest_verify", "manifest verify (ES256)"),
                         ("insns_full_update", "full OTA update (delta)")):
            if k in v:
                print("instructions %-30s %12d  (%.3f ms at 64 MHz, 1 instr/cycle)"
                      % (label, v[k], v[k] / hz * 1e3))
    if fails:
        print("size_report: OVER BUDGET: " + ", ".join(fails))
        return 1
    print("size_report: within budgets (%s)" % os.path.basename(a.budgets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
