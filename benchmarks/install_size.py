"""Disk space `pip install .` adds to a bare virtual environment: musicnn_lite and every package it pulls in.

Walks install_requires (setup.py) and their requirements recursively through the installed
distributions' metadata and sums the sizes of the files each one installed (its RECORD),
so it measures the current environment without installing anything.

    python benchmarks/install_size.py
"""

import re
from importlib import metadata
from pathlib import Path

SETUP = Path(__file__).resolve().parent.parent / "setup.py"


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: list[str]) -> dict[str, metadata.Distribution]:
    found, todo = {}, list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement for another platform
        found[name] = distribution
        todo += [_name(requirement) for requirement in distribution.requires or () if "extra ==" not in requirement]
    return found


def _bytes(distribution: metadata.Distribution) -> int:
    return sum(file.size or 0 for file in distribution.files or ())


def main() -> None:
    block = re.search(r"install_requires=\[(.*?)\]", SETUP.read_text(), re.S).group(1)
    distributions = _closure([_name(text) for text in re.findall(r'"([^"]+)"', block)])
    sizes = sorted(((_bytes(d), name) for name, d in distributions.items()), reverse=True)
    weights = sum(path.stat().st_size for path in (SETUP.parent / "weights").glob("*.npz"))
    for size, name in sizes[:8]:
        print(f"{name:24s} {size / 2 ** 20:8.1f} MiB")
    total = sum(size for size, _ in sizes) + weights
    print(f"{len(sizes)} packages + bundled weights ({weights / 2 ** 20:.1f} MiB): {total / 2 ** 20:.0f} MiB in all")


if __name__ == "__main__":
    main()
