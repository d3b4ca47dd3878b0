#!/usr/bin/python3
"""CTest firmware_size_report: firmware/size_report.py attributes map-file sections to
components and fails (exit 1, naming the budget) when a budget is exceeded, so that the
firmware build fails. Uses a small synthetic GNU ld map and bench output; needs no
cross compiler.

Usage: check_size_report.py SIZE_REPORT.py WORKDIR
"""
import os
import subprocess
import sys

MAP = """Archive member included to satisfy reference by file (symbol)

Discarded input sections

 .text.unused   0x00000000       0x40 libtfa.a(drift.c.obj)

Linker script and memory map

.text           0x00000000     0x1000
 .vectors       0x00000000       0x40 libtfa_port_mps2.a(board.c.obj)
 .text.tfa_infer
                0x00000040      0x200 libtfa.a(infer.c.obj)
                0x00000040                tfa_infer
 .text.mbedtls_mpi_add
                0x00000240      0x300 libfw_mbedtls.a(bignum.c.obj)
 .rodata.fw_model_a
                0x00000540      0x800 CMakeFiles/fw_assets.dir/src/fw_assets.S.obj
 .text.memcpy   0x00000d40       0x20 /usr/lib/arm-none-eabi/lib/libc_nano.a(lib_a-memcpy.o)
 *fill*         0x00000d60        0x4
.data           0x20000000       0x10 load address 0x00001000
 .data.x        0x20000000       0x10 libtfp.a(cbor_io.c.obj)
.bss            0x20000010      0x100
 .bss.state     0x20000010      0x100 libtfa.a(tinyol.c.obj)
.slots          0x00200000     0x8000
 .slots         0x00200000     0x8000 libfw_common.a(fw_core.c.obj)
"""

BENCH = """bench ram_struct_tfa_tinyol=2000
bench ram_struct_tfa_drift=3000
bench ram_struct_tfa_model=100
bench ram_inference_arena=500
bench ram_struct_tfp_delta_apply=1000
bench stack_peak_predict=600
"""


def run(tool, work, budgets):
    bpath = os.path.join(work, "budgets.txt")
    with open(bpath, "w", encoding="utf-8") as f:
        f.write(budgets)
    p = subprocess.run([sys.executable, tool, "--budgets", bpath, "--map",
                        os.path.join(work, "t.map"), "--bench", os.path.join(work, "b.out")],
                       capture_output=True, text=True, check=False)
    return p.returncode, p.stdout + p.stderr


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "t.map"), "w", encoding="utf-8") as f:
        f.write(MAP)
    with open(os.path.join(work, "b.out"), "w", encoding="utf-8") as f:
        f.write(BENCH)
    ok_budgets = ("agent_flash_max 4096\nagent_state_ram_max 8192\n"
                  "delta_applier_ram_max 2048\nagent_static_ram_max 1024\n"
                  "stack_peak_max 1024\n")
    rc, out = run(tool, work, ok_budgets)
    # flash: 0x40 + 0x200 + 0x300 + 0x20 text, 0x10 data = 1392; assets and slots apart;
    # the discarded section and the fill do not count.
    expect = ["agent core (device-agent/src)", "budget agent flash (text+data)         1392",
              "agent state RAM                 5600", "within budgets"]
    missing = [e for e in expect if e not in out]
    if rc != 0 or missing:
        print(out)
        print("check_size_report: within-budget run: rc %d, missing %s" % (rc, missing))
        return 1
    rc, out = run(tool, work, ok_budgets.replace("agent_state_ram_max 8192",
                                                 "agent_state_ram_max 5599"))
    if rc != 1 or "OVER BUDGET: agent state RAM" not in out:
        print(out)
        print("check_size_report: an exceeded budget must fail the report (rc %d)" % rc)
        return 1
    rc, out = run(tool, work, ok_budgets.replace("agent_flash_max 4096",
                                                 "agent_flash_max 1391"))
    if rc != 1 or "OVER BUDGET: agent flash" not in out:
        print(out)
        print("check_size_report: flash over budget must fail (rc %d)" % rc)
        return 1
    print("check_size_report: attribution and budget failures as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
