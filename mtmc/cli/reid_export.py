"""``mtmc reid export --model NAME [--weights W] --out model.onnx``: a zoo model as ONNX (dynamic batch)."""

from __future__ import annotations

import argparse
import dataclasses
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export", help="export a ReID model to ONNX (raw embedding output, dynamic batch)"
    )
    parser.add_argument("--model", required=True, help="model name from the ReID registry")
    parser.add_argument("--weights", default=None, help="weights (.pth/.pth.tar/.pt); omitted = random init")
    parser.add_argument("--out", required=True, help="output .onnx file")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="input height and width (default: the model's registered size)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--check", action="store_true", help="compare onnxruntime with torch on random input")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reid.export import export_onnx
    from reid.registry import build_model, model_info
    from reid.weights import build_from_weights

    info = model_info(args.model)
    if args.input_size:  # a model trained at another resolution (the recipe's data.input_size)
        info = dataclasses.replace(info, input_size=tuple(args.input_size))
    if args.weights:
        model, _ = build_from_weights(args.weights, arch=args.model)
    else:
        print(
            f"reid export: warning: no --weights, exporting a randomly initialised {args.model}",
            file=sys.stderr,
        )
        model = build_model(args.model, num_classes=0)
    out = export_onnx(model, args.out, info, opset=args.opset)
    print(
        f"wrote {out} ({args.model}, input 3x{info.input_size[0]}x{info.input_size[1]}, "
        f"output {model.embedding_dim}-d raw embedding, opset {args.opset})"
    )
    if args.check:
        from reid.export import max_abs_difference

        print(f"max |torch - onnxruntime| on random input: {max_abs_difference(model, out, info):.2e}")
    return 0
