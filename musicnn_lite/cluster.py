"""The Ray cluster the command line tags on: its address checked, then reached, before Ray starts.

Given an address where no Ray cluster answers, `ray.init` retries for over ten minutes, printing
lines that name the address it resolved the given one to. Here an address that is not
host:port is refused as bad usage, and one that does not answer within CONNECT_SECONDS is an
error that names it; Ray is then told to try the cluster once, not twenty times (about 40 s
where something answers that is not a Ray cluster).
"""

from __future__ import annotations

import argparse
import os
import socket

from .errors import MusicnnError, one_line

CONNECT_SECONDS = 10
_KEYWORDS = ("auto", "local")  # Ray's own: the cluster `ray start` made on this machine; a new one


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a cluster address: host:port, [IPv6]:port or ray://host:port (Ray Client);
    None for "auto" and "local", which Ray resolves itself. MusicnnError for anything else."""
    if address in _KEYWORDS:
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MusicnnError(f"{address!r} is not a Ray cluster address; give the head node's host:port, "
                           "e.g. 10.0.0.1:6379, or auto")
    return host, int(port)


def address_option(text: str) -> str:
    """argparse's type for --ray-address: the address, if parse_address takes it."""
    try:
        parse_address(text)
    except MusicnnError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def joined_address(option: str | None) -> tuple[str, str] | None:
    """The address a run joins, and what gave it ("--ray-address" or "RAY_ADDRESS"); None: Ray starts here."""
    if option:
        return option, "--ray-address"
    address = os.environ.get("RAY_ADDRESS")
    return (address, "RAY_ADDRESS") if address else None


def check_reachable(address: str, given_by: str) -> None:
    """Raise MusicnnError unless something answers at `address` within CONNECT_SECONDS."""
    try:
        host_port = parse_address(address)
    except MusicnnError as error:
        raise MusicnnError(f"{given_by}: {error}") from None
    if host_port is None:
        return
    try:
        socket.create_connection(host_port, timeout=CONNECT_SECONDS).close()
    except TimeoutError:
        reason = f"no answer within {CONNECT_SECONDS} s"
    except OSError as error:
        reason = error.strerror or one_line(error)
    else:
        return
    raise MusicnnError(f"cannot reach a Ray cluster at {address} ({given_by}): {reason}; check that its head node "
                       "runs (`ray start --head`) and that the address is its host:port (port 6379 unless "
                       "`ray start --port` chose another)")


def start_ray(address: str | None) -> bool:
    """Join the cluster at `address` (or RAY_ADDRESS), or start Ray on this machine, Ray's chatter hidden,
    unless Ray runs in this process already. Returns whether it started Ray here."""
    joined = joined_address(address)
    if joined:
        os.environ.setdefault("RAY_NUM_REDIS_GET_RETRIES", "1")  # read when Ray is imported
    import logging

    import ray

    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if joined:
            ray.init(address=address, **quiet)
        else:
            ray.init(include_dashboard=False, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as error:
        what = f"join the Ray cluster at {joined[0]} ({joined[1]})" if joined else "start Ray on this machine"
        raise MusicnnError(f"cannot {what}: {one_line(error)}") from None
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True
