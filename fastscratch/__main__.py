"""``python -m fastscratch`` and the ``fastscratch`` console script: subcommands run, train, search, bench, info, warmup."""
import sys


def main(argv=None):
    """Parse argv (default sys.argv[1:]), run the subcommand, return its exit status."""
    from fastscratch._apps.cli import build_parser
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
