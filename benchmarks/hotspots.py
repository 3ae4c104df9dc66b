"""
Summarise the cProfile statistics ``run.py --profile DIR`` wrote:

    python benchmarks/hotspots.py DIR [--top N]

For each ``.prof`` file it prints the busy time (everything but waiting in
the reactor's poll), the share of it spent in each beepy module and in the
rest (Twisted, the standard library, the benchmark itself), and the
functions with the most time of their own.
"""

import argparse
import glob
import os
import pstats

#: Time spent waiting for I/O, not working.
_IDLE = ("<method 'poll' of 'select.epoll' objects>", "<built-in method select.select>")


def _where(filename):
    """
    A short name for the code a function belongs to.
    """
    marker = os.sep + "beepy" + os.sep
    if marker in filename:
        return "beepy/" + filename.split(marker, 1)[1]
    if os.sep + "twisted" + os.sep in filename:
        return "twisted"
    if filename.startswith("~") or filename == "":
        return "builtins"
    if os.sep + "benchmarks" + os.sep in filename:
        return "benchmark"
    return "other"


def summarise(path, top):
    stats = pstats.Stats(path).stats
    rows = []
    idle = 0.0
    for (filename, line, name), (_, calls, ownTime, totalTime, _) in stats.items():
        label = name if filename == "~" else f"{os.path.basename(filename)}:{line}({name})"
        if name in _IDLE:
            idle += ownTime
            continue
        rows.append((ownTime, totalTime, calls, label, _where(filename)))
    busy = sum(row[0] for row in rows) or 1.0
    lines = [f"{os.path.basename(path)}: busy {busy:.2f} s (idle in poll {idle:.2f} s)"]
    byPlace = {}
    for ownTime, _, _, _, place in rows:
        byPlace[place] = byPlace.get(place, 0.0) + ownTime
    lines.append("  own time by place:")
    for place, ownTime in sorted(byPlace.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"    {100 * ownTime / busy:5.1f}%  {place}")
    lines.append("  functions by own time (cumulative share in brackets):")
    for ownTime, totalTime, calls, label, _ in sorted(rows, reverse=True)[:top]:
        lines.append(
            f"    {100 * ownTime / busy:5.1f}%  ({100 * totalTime / busy:5.1f}%)  {calls:>9}  {label}"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--top", type=int, default=15)
    options = parser.parse_args(argv)
    for path in sorted(glob.glob(os.path.join(options.directory, "*.prof"))):
        print("\n".join(summarise(path, options.top)))
        print()


if __name__ == "__main__":
    main()
