"""``python -m tests.fuzz --inputs N [--surface NAME] [--seed S]``: fuzz the node's input surfaces.

Prints, per surface, the inputs run, their rate, the typed rejections and
the accepted inputs. Exits 1 on the first contract break, after a one-line
reproduction (``REPRO surface=... seed=... index=... input=HEX``) and the
traceback; exits 3 when an input hangs. ``--replay HEX`` runs one input
again; ``--index I`` regenerates and runs input I of the seed's run.
"""
from __future__ import annotations

import argparse
import sys
import traceback

from tests.fuzz.runner import HANG_S_DEFAULT, ContractBreak, fuzz, input_at, reproduction
from tests.fuzz.surfaces import SURFACE_NAMES, build_surface


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000, help="inputs per surface, seeds included")
    parser.add_argument("--surface", action="append", choices=SURFACE_NAMES,
                        help="a surface to fuzz (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-s", type=float, default=HANG_S_DEFAULT, help="seconds after which an input is a hang")
    one = parser.add_mutually_exclusive_group()
    one.add_argument("--replay", metavar="HEX", help="run this one input (needs one --surface)")
    one.add_argument("--index", type=int, help="run input INDEX of the seed's run (needs one --surface)")
    args = parser.parse_args(argv)
    names = args.surface or list(SURFACE_NAMES)
    if (args.replay is not None or args.index is not None) and len(names) != 1:
        parser.error("--replay and --index take exactly one --surface")
    if args.replay is not None or args.index is not None:
        return _run_one(names[0], args.seed, args.index, args.replay)
    print(f"fuzzing {', '.join(names)}: {args.inputs} inputs each, seed {args.seed}", flush=True)
    for name in names:
        surface = build_surface(name)
        try:
            stats = fuzz(surface, args.inputs, args.seed, args.hang_s, progress=sys.stderr)
        except ContractBreak as broken:
            print(f"{name}: contract broken at input {broken.index}", flush=True)
            print(broken.reproduction(), flush=True)
            traceback.print_exception(broken.cause.__cause__ or broken.cause, file=sys.stdout)
            return 1
        finally:
            surface.close()
        print(stats.line(), flush=True)
        top = ", ".join(f"{code} {count}" for code, count in stats.codes.most_common(8))
        print(f"{'':<10} most frequent outcomes: {top}", flush=True)
    return 0


def _run_one(name: str, seed: int, index: int | None, replay: str | None) -> int:
    surface = build_surface(name)
    try:
        data = bytes.fromhex(replay) if replay is not None else input_at(surface, seed, index)
        print(reproduction(name, seed, index, data) if index is not None else f"replay surface={name} input={data.hex()}")
        try:
            print(f"outcome: {surface.outcome(data)}")
        except AssertionError as error:
            traceback.print_exception(error.__cause__ or error, file=sys.stdout)
            print(f"contract broken: {error}")
            return 1
        return 0
    finally:
        surface.close()


if __name__ == "__main__":
    sys.exit(main())
