"""What machine a benchmark ran on, for its header.

Shared by bench.py, live.py and reuse.py (imported from their directory).
"""

# The flags that decide which kernels run (src/cpu.c, oneDNN's ISA).
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
         "amx_bf16", "amx_int8")


def cpu_name():
    """The CPU as /proc/cpuinfo names it, with its family and model
    numbers and the flags of FLAGS it has: "AMD EPYC" alone covers
    several generations (family 25 is a Zen 3 or Zen 4, family 26 a
    Zen 5)."""
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return (f"{fields.get('model name', 'unknown CPU')} (family "
            f"{fields.get('cpu family', '?')}, model "
            f"{fields.get('model', '?')}; "
            f"{' '.join(f for f in FLAGS if f in flags) or 'no AVX2'})")
