"""machine.py reads /proc/cpuinfo and the sysfs caches; winograd.chunk_bytes follows
the last-level cache. Checked on made-up files whose answers are known."""

from scratchcnn.fast import machine, winograd

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC 7571
flags\t\t: fpu sse sse2 sse4_2 avx fma avx2 bmi2

processor\t: 1
model name\t: a second processor that must not be read
flags\t\t: avx512f
"""


def make_caches(root, levels):
    for i, (level, kind, size) in enumerate(levels):
        folder = root / f"index{i}"
        folder.mkdir(parents=True)
        (folder / "level").write_text(f"{level}\n")
        (folder / "type").write_text(f"{kind}\n")
        (folder / "size").write_text(f"{size}\n")
    return root


def test_describe_reads_the_first_processor_and_the_data_caches(tmp_path):
    root = make_caches(tmp_path / "cache", [(1, "Data", "32K"), (1, "Instruction", "64K"),
                                            (2, "Unified", "512K"), (3, "Unified", "8192K")])
    info = machine.describe(CPUINFO, root)
    assert info["model"] == "AMD EPYC 7571"
    assert (info["family"], info["model_number"]) == ("23", "1")
    assert info["simd"] == ["sse4_2", "avx", "fma", "avx2"]           # not the 2nd CPU's
    assert info["caches"] == {"L1d": 32 << 10, "L2": 512 << 10, "L3": 8 << 20}
    assert "family 23, model 1" in machine.summary(info) and "L3 8192 KiB" in machine.summary(info)
    assert machine.parse_size("1M") == 1 << 20 and machine.parse_size("48K") == 48 << 10


def test_nothing_reported_gives_empty_fields(tmp_path):
    info = machine.describe("", tmp_path / "absent")
    assert info["simd"] == [] and info["caches"] == {} and info["family"] is None
    assert "unknown" in machine.summary(info)


def test_winograd_chunk_follows_the_last_level_cache():
    assert winograd.chunk_bytes({"L2": 512 << 10, "L3": 32 << 20}) == 8 << 20
    assert winograd.chunk_bytes({"L2": 512 << 10, "L3": 8 << 20}) == 2 << 20   # Zen 1 CCX
    assert winograd.chunk_bytes({"L2": 1 << 20}) == 1 << 20                     # no L3: L2, floor
    assert winograd.chunk_bytes({}) == winograd.DEFAULT_CHUNK_BYTES
