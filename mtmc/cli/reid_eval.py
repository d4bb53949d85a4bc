"""``mtmc reid eval --model NAME --weights W --data ROOT``: Market-protocol rank-1/5/10 and mAP."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate ReID weights on a dataset (rank-1/5/10, mAP)")
    parser.add_argument("--model", required=True, help="model name from the ReID registry")
    parser.add_argument("--weights", required=True, help="weights file, training checkpoint, or an ONNX export of the same architecture")
    parser.add_argument("--data", required=True, help="dataset root (Market/Duke/MSMT17/folder layout)")
    parser.add_argument("--format", default="auto", choices=["auto", "market", "duke", "msmt17", "folder"])
    parser.add_argument("--distance", default="euclidean", choices=["euclidean", "sqeuclidean", "cosine"])
    parser.add_argument("--no-normalize", action="store_true", help="do not L2-normalise embeddings")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--save-ranks", metavar="PNG", default=None,
                        help="write a picture of ranked results (query + top-10, green = match)")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the metrics as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mtmc.atomic import write_json
    from mtmc.errors import DataError
    from reid import registry
    from reid.data import build_transforms, load_dataset
    from reid.distributed import pick_device
    from reid.evaluate import evaluate_model, save_ranked_picture
    from reid.weights import build_from_weights

    info = registry.model_info(args.model)
    data = load_dataset(args.data, args.format, require_train=False)
    if not data.has_eval:
        raise DataError("the dataset has no query/gallery split to evaluate", path=data.root)
    if str(args.weights).lower().endswith(".onnx"):  # an export of this architecture: exact in eval mode
        from reid.onnx_import import import_onnx_weights

        model = registry.build_model(args.model, num_classes=0)
        import_onnx_weights(model, args.weights, info.input_size)
    else:
        model, _ = build_from_weights(args.weights, arch=args.model)  # a searched genotype rebuilds from its file
    device = pick_device(args.device)
    model.to(device).eval()
    tf = build_transforms(info.input_size, info.mean, info.std, info.rgb, train=False)
    metrics, distmat = evaluate_model(model, data.query, data.gallery, tf, device=device,
                                      batch_size=args.batch_size, num_workers=args.workers,
                                      metric=args.distance, normalize=not args.no_normalize)
    if metrics.get("nonfinite_embeddings"):
        raise DataError("the model produced non-finite embeddings with these weights", path=args.weights)
    print(f"{args.model} on {data.root} ({len(data.query)} queries, {len(data.gallery)} gallery, "
          f"{metrics['n_valid']} valid)")
    print(f"rank-1 {metrics['rank1']:.2f}  rank-5 {metrics['rank5']:.2f}  rank-10 {metrics['rank10']:.2f}  "
          f"mAP {metrics['mAP']:.2f}")
    if args.save_ranks:
        print(f"ranked results: {save_ranked_picture(args.save_ranks, distmat, data.query, data.gallery)}")
    if args.json:
        write_json(args.json, {k: v for k, v in metrics.items()})
    return 0
