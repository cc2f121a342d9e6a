"""Run every benchmark: `python -m bench [--device cuda]`."""

import argparse

import torch

from bench import attribution, controls, granularity, hook_overhead, memory, patching, scaling


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--large", action="store_true", help="also EAP-IG over 1,000 pairs on a BERT-base size"
    )
    args = parser.parse_args()
    hook_overhead.run(args.device, args.repeats)
    patching.run(args.device, min(args.repeats, 5))
    attribution.run(device=args.device)
    granularity.run(device=args.device)
    granularity.run(device=args.device, edges=True)
    controls.run(device=args.device)
    scaling.run(args.device)
    memory.run(args.device, args.large)


if __name__ == "__main__":
    main()
