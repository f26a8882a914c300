"""The counter PC as the gateway sees it: the IP and MAC address of the network interface that reaches the gateway,
which 9001 (sign-in) must carry (docs/gateway.md, 9001; public clients read them from the network card).

The IP is found by asking the operating system which local address it would use for the gateway's host (a UDP
"connect" sends nothing). The MAC is that interface's hardware address where the system tells it (Linux sysfs),
else the machine's primary MAC (``uuid.getnode``), formatted ``00-1A-2B-3C-4D-5E``. Both can be set in the
configuration instead (``[nhsa] terminal_ip`` / ``terminal_mac``), e.g. behind NAT where the gateway expects the
registered address.
"""
from __future__ import annotations

import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit


def local_ip_for(url: str) -> str:
    """The local address used to reach ``url``'s host; "127.0.0.1" when it cannot be told."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def _format(mac: int | str) -> str:
    text = f"{mac:012x}" if isinstance(mac, int) else mac.replace(":", "").replace("-", "")
    return "-".join(text[i:i + 2] for i in range(0, 12, 2)).upper()


def mac_for_ip(ip: str) -> str:
    """The hardware address of the interface holding ``ip`` (Linux), else the machine's primary one."""
    try:
        import fcntl  # POSIX only; Windows falls through to uuid.getnode()
        import struct
        for _, name in socket.if_nameindex():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
                except OSError:
                    continue
            if socket.inet_ntoa(packed[20:24]) == ip:
                address = Path(f"/sys/class/net/{name}/address").read_text().strip()
                if address and address != "00:00:00:00:00:00":
                    return _format(address)
    except (ImportError, OSError, AttributeError):
        pass
    return _format(uuid.getnode())
