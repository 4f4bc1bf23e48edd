"""Loopback servers and clusters: free ports, a local Ray cluster, commands in a network namespace of their own."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path





def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on now (TCP, or UDP with ``socket.SOCK_DGRAM``: SRT)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RAY = Path(sys.executable).with_name("ray")


RAY_PORT = 6379  # inside the cluster's own network namespace: nothing else listens there


def ray_cluster_why_not() -> str | None:
    """Why a Ray cluster in a private loopback-only network cannot be made here (None: it can)."""
    import shutil

    if not RAY.exists():
        return 'Ray is not installed: pip install -e ".[ray]"'
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    r = subprocess.run(["unshare", "-n", "-p", "-f", "-m", "--mount-proc", "true"], capture_output=True, text=True)
    return None if r.returncode == 0 else f"cannot make network and process namespaces (root needed): {r.stderr.strip()}"


def on_ray_cluster(args: list, log: Path, nodes: int = 2) -> subprocess.Popen:
    """``livecam anonymize ARGS --ray 127.0.0.1:RAY_PORT`` on a fresh cluster of a head and ``nodes - 1`` worker
    nodes of one CPU each, started by ``ray start``. Ray's servers listen on every interface, so the cluster
    and the command run in network and process namespaces of their own (``unshare``, as root): loopback is
    the only network there, and every Ray process ends with the command. The command's own run time (the
    cluster up) is the log's line ``livecam-seconds: S``."""
    import shlex

    cmd = shlex.join([sys.executable, "-c", "import subprocess, sys, time; t = time.perf_counter(); "
                      "r = subprocess.run(sys.argv[1:]); "
                      "print(f'livecam-seconds: {time.perf_counter() - t:.2f}', file=sys.stderr); sys.exit(r.returncode)",
                      sys.executable, "-m", "livecam", "anonymize", *map(str, args), "--ray", f"127.0.0.1:{RAY_PORT}"])
    common = "--node-ip-address 127.0.0.1 --num-cpus 1 --disable-usage-stats"
    workers = "\n".join(f"{shlex.quote(str(RAY))} start --address 127.0.0.1:{RAY_PORT} {common} > /dev/null"
                         for _ in range(nodes - 1))
    script = f"""{shlex.quote(str(RAY))} start --head --port {RAY_PORT} {common} --include-dashboard false > /dev/null
{workers}
{cmd}
"""
    return on_loopback_only(script, log)


def on_loopback_only(script: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The bash ``script`` in network and process namespaces of its own (``unshare``, root), where loopback is
    the only network (Ray's servers listen on every interface) and every process it starts ends with it; its
    stderr to ``log``; ``env`` added to the environment. Kill it with ``os.killpg(proc.pid, ...)``."""
    import os

    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}
    with log.open("w") as err:
        return subprocess.Popen(["unshare", "-n", "-p", "-f", "-m", "--mount-proc", "bash", "-c",
                                 f"set -e\nip link set lo up\n{script}"],
                                stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
