"""The child side of `adapters/isolated.py`: loads ONE vendor library with ctypes and calls it on request.

This file is run as a script (`python -I isolated_worker.py`), never imported by rxlane, so it uses only the standard
library and the syntax of old Pythons: the interpreter running it may be a different one from rxlane's (a 32-bit
Python for a 32-bit vendor DLL). Nothing of rxlane — settings, secrets, the ledger — is ever in this process.

Protocol: one JSON object per line. Requests come on stdin; answers go to the pipe that was stdout when the process
started. File descriptor 1 is pointed at stderr before the library is loaded, so whatever the vendor's code prints
cannot corrupt the protocol.

    {"id": n, "op": "load", "path": "...", "convention": "stdcall"|"cdecl", "symbols": ["f", ...]}
        -> {"id": n, "ok": true} | {"id": n, "ok": false, "error": "load"|"symbol", "detail": "..."}
    {"id": n, "op": "call", "symbol": "f", "restype": "int"|"str",
     "args": [{"i": 3}, {"s": "<base64>"}, {"o": 2048}]}
        -> {"id": n, "ok": true, "ret": 0 | "<base64>" | null,
            "outs": [{"data": "<base64>", "terminated": bool, "overrun": bool}]}
        -> {"id": n, "ok": false, "error": "symbol", "detail": "f"}   (the library has no such function)
        -> {"id": n, "ok": false, "error": "fault", "detail": "..."}  (then the process exits: its memory is suspect)

`{"o": n}` is an output buffer of n bytes followed by a guard zone filled with a known byte; a library that writes
past n bytes (an over-long answer) damages the guard, and the answer says `overrun`. `terminated` says whether a NUL
ends the text within the n bytes.
"""
import base64
import ctypes
import json
import os
import sys
import threading
import time

GUARD = 65536
GUARD_BYTE = 0xA5


def _protocol_channel():
    """Keep the original stdout for answers; send fd 1 (and the C runtime's idea of it) to stderr."""
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if os.name == "nt":
        import msvcrt
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.SetStdHandle.argtypes = [ctypes.c_uint32, ctypes.c_void_p]
        kernel32.SetStdHandle(ctypes.c_uint32(-11 & 0xFFFFFFFF), msvcrt.get_osfhandle(2))   # STD_OUTPUT_HANDLE
        # no "program stopped working" dialog and no "DLL not found" box: fail fast, let the parent restart us
        kernel32.SetErrorMode(0x0001 | 0x0002 | 0x8000)
    return channel


def _watch_parent(parent_pid):
    """A hung library call keeps this process busy forever; when rxlane itself is gone, exit anyway."""
    if os.name == "nt":
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = ctypes.c_void_p
        kernel32.WaitForSingleObject.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        handle = kernel32.OpenProcess(0x00100000, False, parent_pid)     # SYNCHRONIZE
        if handle:
            kernel32.WaitForSingleObject(handle, 0xFFFFFFFF)
            os._exit(0)
        return
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


class Worker:
    def __init__(self, channel):
        self.channel = channel
        self.library = None

    def answer(self, body):
        self.channel.write(json.dumps(body).encode("ascii") + b"\n")

    def load(self, req):
        path, symbols = req["path"], req.get("symbols") or []
        loader = ctypes.CDLL
        if os.name == "nt" and req.get("convention", "stdcall") == "stdcall":
            loader = ctypes.WinDLL
        try:
            self.library = loader(path)
        except OSError as exc:
            return {"ok": False, "error": "load", "detail": str(exc)}
        missing = [s for s in symbols if not hasattr(self.library, s)]
        if missing:
            return {"ok": False, "error": "symbol", "detail": missing[0]}
        return {"ok": True}

    def call(self, req):
        if not hasattr(self.library, req["symbol"]):
            return {"ok": False, "error": "symbol", "detail": req["symbol"]}
        function = getattr(self.library, req["symbol"])
        function.restype = ctypes.c_char_p if req.get("restype") == "str" else ctypes.c_int
        args, outs = [], []
        for arg in req["args"]:
            if "i" in arg:
                args.append(ctypes.c_int(arg["i"]))
            elif "s" in arg:
                # a writable copy: some vendors scribble on their "input" strings
                args.append(ctypes.create_string_buffer(base64.b64decode(arg["s"])))
            else:
                size = arg["o"]
                buf = ctypes.create_string_buffer(size + GUARD)
                ctypes.memset(ctypes.addressof(buf) + size, GUARD_BYTE, GUARD)
                outs.append((buf, size))
                args.append(buf)
        ret = function(*args)
        if isinstance(ret, bytes):
            ret = base64.b64encode(ret).decode("ascii")
        return {"ok": True, "ret": ret, "outs": [self._read_out(buf, size) for buf, size in outs]}

    @staticmethod
    def _read_out(buf, size):
        raw = buf.raw
        end = raw.find(b"\0", 0, size)
        data = raw[:size] if end < 0 else raw[:end]
        overrun = raw[size:size + GUARD] != bytes([GUARD_BYTE]) * GUARD
        return {"data": base64.b64encode(data).decode("ascii"), "terminated": end >= 0, "overrun": overrun}

    def serve(self, stream):
        for line in stream:
            try:
                req = json.loads(line.decode("utf-8"))
            except ValueError:
                continue
            rid = req.get("id")
            if req.get("op") == "load":
                self.answer(dict(self.load(req), id=rid))
            elif req.get("op") == "call":
                try:
                    body = self.call(req)
                except (OSError, ValueError, TypeError, AttributeError) as exc:
                    # on Windows ctypes turns an access violation into OSError: the process is no longer sound
                    self.answer({"id": rid, "ok": False, "error": "fault",
                                 "detail": type(exc).__name__ + ": " + str(exc)})
                    os._exit(3)
                self.answer(dict(body, id=rid))


def main():
    channel = _protocol_channel()
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    Worker(channel).serve(sys.stdin.buffer)


if __name__ == "__main__":
    main()
