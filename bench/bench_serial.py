"""Serial scan throughput: the real scanner driver + framer over a pty, against a raw `os.read` loop on a pty.

Figures: frames decoded per second and MB/s of scan data through `SerialScanner.read_frame` (pyserial read,
framing, decoding, validation), and MB/s of a bare `os.read` loop over the same bytes in the same run; the
ratio says what the driver costs. A counter sees a scan every second or so — the target (≥ 10 MB/s) is about
never being the bottleneck for a burst or a 64 KB noise flood, not about scanners.
"""
from __future__ import annotations

import os
import threading
import time

from hardware.device import DeviceConfig
from hardware.scanner import SerialScanner
from hardware.simulate import PtyScanner

CODES = [b"81234567890123456789", b"]d2010690123456789017211234567890\x1d10ABC123\x1d17261231",
         b"6901234567892", b"]C10106901234567892\x1d21SERIAL0001"]


def _stream(total_bytes: int) -> tuple[bytes, int]:
    block = b"".join(code + b"\r" for code in CODES)
    repeats = max(1, total_bytes // len(block))
    return block * repeats, repeats * len(CODES)


def _feed(sim: PtyScanner, data: bytes) -> threading.Thread:
    def write() -> None:
        for i in range(0, len(data), 65536):
            sim.send_raw(data[i:i + 65536])

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def _driver_run(data: bytes, frames: int) -> float:
    sim = PtyScanner()
    driver = SerialScanner(DeviceConfig(name="bench", kind="scanner", url=sim.path, baudrate=115200))
    driver.open()
    try:
        started = time.perf_counter()
        writer = _feed(sim, data)
        for _ in range(frames):
            if driver.read_frame(5.0) is None:
                raise RuntimeError("driver stalled")
        elapsed = time.perf_counter() - started
        writer.join()
        return elapsed
    finally:
        driver.close()
        sim.close()


def _raw_run(data: bytes) -> float:
    sim = PtyScanner()
    fd = os.open(sim.path, os.O_RDONLY | os.O_NOCTTY)
    try:
        started = time.perf_counter()
        writer = _feed(sim, data)
        got = 0
        while got < len(data):
            got += len(os.read(fd, 65536))
        elapsed = time.perf_counter() - started
        writer.join()
        return elapsed
    finally:
        os.close(fd)
        sim.close()


def run(quick: bool = False) -> dict:
    data, frames = _stream(256 * 1024 if quick else 16 * 1024 * 1024)
    mb = len(data) / 1e6
    driver_s = _driver_run(data, frames)
    raw_s = _raw_run(data)
    return {
        "bytes": len(data),
        "frames": frames,
        "driver_frames_per_s": round(frames / driver_s),
        "driver_mb_per_s": round(mb / driver_s, 2),
        "raw_read_mb_per_s": round(mb / raw_s, 2),
        "driver_vs_raw_ratio": round((mb / driver_s) / (mb / raw_s), 3),
        "target_mb_per_s": 10,
    }


if __name__ == "__main__":
    import json
    print(json.dumps(run(), indent=2))
