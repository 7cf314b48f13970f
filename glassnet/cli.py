"""The ``glassnet`` command. Parsing and printing only; the work is done by the public API."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="glassnet", description="Train and inspect glassnet models.")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train an MLP (default: digits)")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="model.safetensors")
    args = parser.parse_args(argv)
    if args.command != "train":
        parser.print_help()
        return 0
    import glassnet as g
    from glassnet.datasets import load

    data = load("digits")
    X, y = data.X / 16.0, data.y
    model = g.mlp(X.shape[1], [128, 64], 10, seed=args.seed)
    print(model.summary())
    hist = model.fit(X, y, optimizer=g.SGD(lr=0.05, momentum=0.9), epochs=args.epochs, batch_size=32,
                     validation_split=0.25, seed=args.seed)
    print(f"validation accuracy {hist['val_accuracy'][-1]:.4f}")
    g.save(model, args.out)
    print(f"model written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
