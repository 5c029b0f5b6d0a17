"""The ``actionzoo`` command.

Subcommands (``actionzoo COMMAND --help`` for each):

- ``weights list|download|verify|convert-vggish`` -- the pretrained
  registry (:mod:`actionzoo.weights`) and the AudioSet VGGish converter;
- ``flops MODEL`` -- multiply-adds and parameters of a registry model or a
  builder of :mod:`actionzoo.models` (:mod:`actionzoo.flops`);
- ``predict VIDEO...`` -- top-k labels of videos with a registry model;
- ``evaluate ROOT`` -- top-1/top-5, mean class accuracy and a confusion
  matrix PNG of a registry model on a UCF101/HMDB51/folder split;
- ``prepare ROOT OUTPUT`` -- decode RGB/flow/log-mel once into TFRecords.
- ``demo`` -- train every estimator on the demo dataset and write a report
  (:mod:`actionzoo.demo`).
- ``train RECIPE [ARGS...]`` -- run a per-paper recipe (``recipes/``) with
  its own arguments.

Exit codes: 0 success, 1 error (one line on stderr, no traceback), 2 usage
error.

Quiet by default: TensorFlow's C++ log lines are off (``TF_CPP_MIN_LOG_LEVEL=3``
unless the environment sets it) and Python warnings are one line each
(``actionzoo: warning: ...``); ``actionzoo -v COMMAND`` shows both in full.

Examples
--------
>>> main(["weights", "list"])  # doctest: +SKIP
NAME               BUILDER          CLASSES     SIZE  WHERE    DESCRIPTION
corrnet26.demo     correlation_net       10  1.64 MB  shipped  Tiny CorrNet-26 (width x0.125, ...
0
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
import warnings

from actionzoo.argtypes import non_negative_int, positive_int, workers

__all__ = ["main", "build_parser"]

class UsageError(Exception):
    """Bad command-line values found after parsing (exit code 2)."""


# -- helpers ---------------------------------------------------------------------
def _value(text):
    """``--arg`` values: JSON when it parses (numbers, lists, true), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _kwargs(pairs):
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--arg expects KEY=VALUE, got {pair!r}")
        out[key] = _value(value)
    return out


def _load_split(args):
    from actionzoo.data import load_folder, load_hmdb51, load_ucf101

    if args.dataset == "folder":
        return load_folder(args.root)
    loader = load_ucf101 if args.dataset == "ucf101" else load_hmdb51
    return loader(args.root, split=args.split, subset=args.subset,
                  annotation_dir=args.annotation_dir)


def _unreadable_reason(path):
    """Why ``path`` cannot be a video file (a directory, missing, empty), or None."""
    if os.path.isdir(path):
        return "a directory, not a video file"
    if not os.path.exists(path):
        return "no such video file"
    if os.path.getsize(path) == 0:
        return "empty (0 bytes), not a video"
    return None


def _video_probabilities(args, paths):
    """``(estimator, kept paths, class probabilities)`` of ``args.weights`` on ``paths``.

    The estimator is :func:`actionzoo.estimators.pretrained.from_pretrained`
    (its test views, decoding and normalisation); ``--clips``/``--crops``
    replace the entry's views, ``--num-workers`` decodes in processes. With
    ``--skip-bad`` files that cannot be opened as video (missing, not a
    media container, no video stream) are left out, one
    line on stderr each; otherwise the first one is an error naming it.
    """
    from actionzoo.data.video import video_info
    from actionzoo.estimators.pretrained import from_pretrained

    overrides = {"num_workers": args.num_workers, "verbose": 0}
    if args.clips is not None:
        overrides["test_clips"] = args.clips
    if args.crops is not None:
        overrides["test_crops"] = args.crops
    estimator = from_pretrained(args.weights, **overrides)
    kept = []
    for path in paths:
        reason = _unreadable_reason(path)
        if reason is None:
            try:
                video_info(path)  # opens the container: unreadable files are caught here
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
        if reason is not None:
            if not args.skip_bad:
                raise ValueError(f"{path}: {reason}") from None
            print(f"actionzoo: skipped {path}: {reason}", file=sys.stderr)
            continue
        kept.append(os.fspath(path))
    if not kept:
        raise ValueError("no readable video left to classify")
    import numpy as np

    return estimator, kept, estimator.predict_proba(np.asarray(kept, dtype=object))


# -- commands ----------------------------------------------------------------------
def _weights_list(args):
    from actionzoo import weights

    names = weights.list_pretrained(args.pattern)
    reg = weights.default_registry()
    rows = []
    for name in names:
        info = reg[name]
        local = reg.local_path(name)
        where = ("shipped" if local is not None and local.parent == reg.local_dir
                 else "cached" if local is not None else "remote")
        rows.append({"name": name, "builder": info.architecture["builder"],
                     "classes": len(info.classes), "size": info.size, "where": where,
                     "license": info.license, "description": info.description})
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no pretrained weights match {args.pattern!r}" if args.pattern else
              f"no pretrained weights in {reg.manifest}")
    else:
        print(_weights_table(rows, shutil.get_terminal_size((100, 24)).columns))
    return 0


def _weights_table(rows, width):
    """``weights list`` rows as a table with a header; descriptions wrapped at words."""
    header = ("NAME", "BUILDER", "CLASSES", "SIZE", "WHERE")
    cells = [(r["name"], r["builder"], str(r["classes"]), f"{r['size'] / 1e6:.2f} MB", r["where"])
             for r in rows]
    widths = [max(len(c[k]) for c in [header, *cells]) for k in range(len(header))]
    numeric = (False, False, True, True, False)  # right-aligned

    def line(values):
        return "  ".join(v.rjust(w) if right else v.ljust(w)
                         for v, w, right in zip(values, widths, numeric, strict=True))

    indent = sum(widths) + 2 * len(widths)
    lines = [line(header) + "  DESCRIPTION"]
    for r, c in zip(rows, cells, strict=True):
        text = textwrap.wrap(r["description"], max(30, width - indent - 1),
                             break_on_hyphens=False) or [""]
        lines.append(f"{line(c)}  {text[0]}")
        lines += [" " * indent + more for more in text[1:]]
    return "\n".join(lines)


def _weights_download(args):
    from actionzoo import weights

    for name in args.names:
        path = weights.download(name, force=args.force, verbose=0 if args.quiet else 1)
        print(f"{name}: {path}")
    return 0


def _weights_verify(args):
    from actionzoo import weights

    for item in args.items:
        info = weights.verify(item)
        what = f"sha256 {info.sha256}" if info.sha256 else "sha256 of its conversion record"
        print(f"{item}: OK ({info.name}, {what})")
    return 0


def _weights_convert_vggish(args):
    from actionzoo.models.vggish import convert_vggish_checkpoint
    from actionzoo.weights import sha256sum

    path = convert_vggish_checkpoint(args.checkpoint, args.output)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print(f"sha256 {sha256sum(path)}")
    return 0


def _weights_convert(args):
    from actionzoo.convert import convert_checkpoint, save_converted

    model = convert_checkpoint(args.source, args.architecture)
    digest = save_converted(model, args.output)
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)")
    print(f"sha256 {digest}")
    return 0


def _flops(args):
    from actionzoo import models, weights
    from actionzoo.flops import count_flops, count_params

    kwargs = _kwargs(args.arg)
    if args.model in weights.list_pretrained():
        if kwargs:
            raise UsageError("--arg applies to builder names, not to registry weights")
        model = weights.pretrained_info(args.model).build_model()
    elif args.model in models.__all__ and callable(getattr(models, args.model)):
        try:
            model = getattr(models, args.model)(**kwargs)
        except TypeError as exc:
            raise UsageError(f"{args.model}: {exc}") from None
    else:
        raise UsageError(f"unknown model {args.model!r}: give a registry name "
                         f"({', '.join(weights.list_pretrained()) or 'none'}) or a builder of "
                         f"actionzoo.models (e.g. correlation_net, resnet3d)")
    flops, params = count_flops(model), count_params(model)
    result = {"model": args.model, "name": model.name,
              "input_shape": [list(t.shape[1:]) for t in model.inputs],
              "multiply_adds": flops, "params": params}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        shapes = ", ".join("x".join(str(d) for d in s) for s in result["input_shape"])
        print(f"{model.name} (input {shapes})")
        print(f"multiply-adds: {flops / 1e9:.3f} G ({flops:,})")
        print(f"parameters:    {params / 1e6:.3f} M ({params:,})")
    return 0


def _predict(args):
    estimator, paths, probabilities = _video_probabilities(args, args.videos)
    classes = estimator.classes_.tolist()
    k = min(args.top_k, len(classes))
    results = []
    for path, probs in zip(paths, probabilities, strict=True):
        order = probs.argsort()[::-1][:k]
        results.append({"video": path, "predictions": [
            {"label": classes[i], "probability": round(float(probs[i]), 6)} for i in order]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(r["video"])
            for p in r["predictions"]:
                print(f"  {p['probability']:.3f}  {p['label']}")
    return 0


def _evaluate(args):
    import numpy as np
    from sklearn.metrics import confusion_matrix

    from actionzoo import weights
    from actionzoo.estimators._pretrained import weights_entry
    from actionzoo.metrics import mean_class_accuracy, top_k_accuracy
    from actionzoo.plots import save_confusion_matrix

    info = weights_entry(args.weights) or weights.pretrained_info(args.weights)
    split = _load_split(args)
    unknown = [c for c in split.classes if c not in info.classes]
    if unknown:
        raise ValueError(f"{args.root}: classes {unknown} are not among the {len(info.classes)} "
                         f"classes of {args.weights}")
    paths = split.paths if args.limit is None else split.paths[:args.limit]
    label_of = dict(zip(map(os.fspath, paths), np.asarray(split.classes)[split.labels],
                        strict=False))
    estimator, kept, probs = _video_probabilities(args, paths)
    classes = estimator.classes_.tolist()
    y = np.array([classes.index(label_of[p]) for p in kept])
    pred = probs.argmax(1)
    n = len(classes)
    cm = confusion_matrix(y, pred, labels=np.arange(n))
    result = {"weights": os.fspath(args.weights), "dataset": args.dataset,
              "root": os.fspath(args.root), "videos": len(kept),
              "skipped": len(paths) - len(kept), "top1": top_k_accuracy(y, probs, 1),
              "top5": top_k_accuracy(y, probs, min(5, n)),
              "mean_class_accuracy": mean_class_accuracy(y, pred),
              "classes": classes, "confusion_matrix": cm.tolist()}
    if args.dataset != "folder":
        result.update(split=args.split, subset=args.subset)
    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "confusion_matrix.png")
    save_confusion_matrix(cm, classes, png,
                          title=f"{args.weights} on {args.root} ({len(paths)} videos): "
                                f"top-1 accuracy {result['top1']:.3f}, top-5 {result['top5']:.3f}, "
                                f"mean class accuracy {result['mean_class_accuracy']:.3f}")
    with open(os.path.join(args.out, "metrics.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"videos: {len(kept)}")
        print(f"top-1 accuracy:      {result['top1']:.4f}")
        print(f"top-5 accuracy:      {result['top5']:.4f}")
        print(f"mean class accuracy: {result['mean_class_accuracy']:.4f}")
        print(f"wrote {png} and {os.path.join(args.out, 'metrics.json')}")
    return 0


def _prepare(args):
    from actionzoo.data import SkipLog, prepare

    split = _load_split(args)
    log = SkipLog()
    shards = prepare(split.paths, split.labels, args.output, modalities=args.modalities,
                     short_side=args.short_side or None, videos_per_shard=args.videos_per_shard,
                     flow_method=args.flow_method, on_error="skip" if args.skip_bad else "raise",
                     skip_log=log, verbose=0 if args.quiet else 1)
    with open(os.path.join(args.output, "classes.json"), "w") as fh:
        json.dump(list(split.classes), fh, indent=1)
    print(f"wrote {len(split.paths) - len(log)} videos ({', '.join(args.modalities)}) into "
          f"{len(shards)} shard(s) in {args.output}"
          + (f"; skipped {len(log)} bad file(s), listed in manifest.json" if len(log) else ""))
    return 0


def _demo(args):
    from actionzoo.demo import run_demo

    report = run_demo(args.data, args.report_dir, quick=args.quick, seed=args.seed,
                      verbose=0 if args.quiet else 1)
    print(report["table"])
    print(f"\nbest: {report['best_model']}; chance {report['chance']:.3f}; "
          f"wall time {report['wall_seconds']:.0f} s; report in {args.report_dir}/")
    return 0


def recipes_dir():
    """The recipes folder: ``recipes/`` of a checkout, else ``<prefix>/share/actionzoo/recipes``."""
    from actionzoo._shipped import shipped_dir

    return shipped_dir("recipes", "_common.py")


def available_recipes():
    """Names of the recipes in :func:`recipes_dir` (``.py`` files not starting with ``_``)."""
    folder = recipes_dir()
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def _train(args):
    import importlib.util

    names = available_recipes()
    if args.recipe.endswith(".py") or os.sep in args.recipe:
        path = os.path.abspath(args.recipe)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{args.recipe}: no such recipe file")
    elif args.recipe in names:
        path = os.fspath(recipes_dir() / f"{args.recipe}.py")
    else:
        choices = ", ".join(names) if names else f"none (no recipes in {recipes_dir()})"
        raise UsageError(f"unknown recipe {args.recipe!r}: choose from {choices}, or give "
                         "the path of a recipe .py file")
    folder = os.path.dirname(path)
    if folder not in sys.path:  # recipes import their neighbours (_common), as scripts do
        sys.path.insert(0, folder)
    name = "actionzoo_recipe_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "main", None)):
        raise UsageError(f"{path}: a recipe defines main(argv)")
    argv0, sys.argv[0] = sys.argv[0], f"actionzoo train {args.recipe}"  # its usage lines
    try:
        result = module.main(args.recipe_args)
    except SystemExit as exc:  # the recipe's own --help or usage error
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv[0] = argv0
    return result if isinstance(result, int) else 0


# -- parser ------------------------------------------------------------------------
def _modalities(text):
    """``--modalities``: a comma-separated subset of rgb,flow,audio -> tuple."""
    modalities = tuple(m.strip() for m in text.split(",") if m.strip())
    if not modalities or any(m not in ("rgb", "flow", "audio") for m in modalities):
        raise argparse.ArgumentTypeError(f"takes a comma-separated subset of rgb,flow,audio, "
                                         f"got {text!r}")
    return modalities


def _add_dataset_args(p):
    p.add_argument("root", help="dataset folder (UCF101/HMDB51 class folders, or a folder "
                                "with one sub-folder of videos per class)")
    p.add_argument("--dataset", choices=("ucf101", "hmdb51", "folder"), default="ucf101",
                   help="layout of ROOT (default: %(default)s; the synthetic demo dataset is "
                        "ucf101)")
    p.add_argument("--split", type=int, choices=(1, 2, 3), default=1)
    p.add_argument("--subset", choices=("train", "test"), default="test")
    p.add_argument("--annotation-dir", help="split files folder (default: found next to ROOT)")


def _add_view_args(p):
    p.add_argument("--clips", type=positive_int, metavar="N",
                   help="clips per video (default: the weights' setting)")
    p.add_argument("--crops", type=int, choices=(1, 3, 10), help="crops per clip (default: "
                                                                 "the weights' setting)")
    p.add_argument("--num-workers", type=workers, default=0, metavar="N",
                   help="decoding processes (-1: one per core; default: %(default)s)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out files that cannot be opened as video (one line each on "
                        "stderr) instead of stopping")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_parser():
    """The argument parser of ``actionzoo`` (one sub-parser per command)."""
    from actionzoo import __version__

    parser = argparse.ArgumentParser(
        prog="actionzoo", description="Video action recognition model zoo.",
        epilog="Run `actionzoo COMMAND --help` for the options of a command.")
    parser.add_argument("--version", action="version", version=f"actionzoo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's C++ log lines and Python warnings with their "
                             "source (default: TF_CPP_MIN_LOG_LEVEL=3 unless set, one line "
                             "per warning)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    w = sub.add_parser("weights", help="list, download and verify pretrained weights",
                       description="Pretrained weights registry (weights/manifest.json). "
                                   "Environment: ACTIONZOO_HOME (cache), ACTIONZOO_WEIGHTS_URL "
                                   "(mirror), ACTIONZOO_OFFLINE=1, ACTIONZOO_MANIFEST.")
    wsub = w.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = wsub.add_parser("list", help="list registered weights")
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'corrnet*'")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_weights_list, command_parser=p)
    p = wsub.add_parser("download", help="download (and verify) weights into the cache")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--force", action="store_true", help="download even if cached")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_weights_download, command_parser=p)
    p = wsub.add_parser("verify", help="check sha256 and size of weights files")
    p.add_argument("items", nargs="+", metavar="NAME_OR_PATH")
    p.set_defaults(func=_weights_verify, command_parser=p)
    p = wsub.add_parser("convert-vggish", help="convert the AudioSet VGGish checkpoint to Keras",
                        description="Read the original TF-Slim vggish_model.ckpt (AudioSet "
                                    "release, tensorflow/models research/audioset/vggish) and "
                                    "write the weights of actionzoo.models.vggish; prints the "
                                    "sha256 of the output.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint prefix, e.g. "
                                                            "vggish_model.ckpt")
    p.add_argument("output", metavar="OUTPUT.weights.h5")
    p.set_defaults(func=_weights_convert_vggish, command_parser=p)
    p = wsub.add_parser("convert", help="convert a PyTorch checkpoint to Keras weights",
                        description="Read a .pth/.pt checkpoint without PyTorch (restricted "
                                    "unpickler), load it into the actionzoo model of "
                                    "ARCHITECTURE and write OUTPUT.weights.h5; prints its "
                                    "sha256.")
    p.add_argument("architecture", metavar="ARCHITECTURE",
                   help="r3d_18, mc3_18, r2plus1d_18, r2plus1d_34, hara_resnet18/34/50/101, "
                        "hara_resnext101 or efficientnet_lite0")
    p.add_argument("source", metavar="SOURCE", help="the PyTorch checkpoint")
    p.add_argument("output", metavar="OUTPUT.weights.h5")
    p.set_defaults(func=_weights_convert, command_parser=p)

    p = sub.add_parser("flops", help="multiply-adds and parameters of a model",
                       description="Build a model (registry name, e.g. corrnet26.demo, or an "
                                   "actionzoo.models builder with --arg KEY=VALUE) and count "
                                   "multiply-adds of one sample and parameters.",
                       epilog="Example: actionzoo flops correlation_net --arg depth=26 "
                              "--arg clip_length=16 --arg input_size=224")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE",
                   help="builder keyword argument (JSON value or string); repeatable")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_flops, command_parser=p)

    p = sub.add_parser("predict", help="top-k action labels of videos",
                       description="Classify videos with registry weights; softmax averaged "
                                   "over the test views.")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--weights", required=True, metavar="NAME", help="registry name (see "
                   "`actionzoo weights list`) or a weights file named after one "
                   "(NAME.weights.h5, NAME.keras)")
    p.add_argument("--top-k", type=positive_int, default=5, metavar="K", help="labels per video "
                   "(default: %(default)s)")
    p.add_argument("--json", action="store_true", help="JSON output")
    _add_view_args(p)
    p.set_defaults(func=_predict, command_parser=p)

    p = sub.add_parser("evaluate", help="accuracy and confusion matrix on a dataset split",
                       description="Top-1/top-5 accuracy, mean class accuracy and a confusion "
                                   "matrix PNG of registry weights on a dataset split.")
    _add_dataset_args(p)
    p.add_argument("--weights", required=True, metavar="NAME")
    p.add_argument("--out", default="evaluation", help="folder for confusion_matrix.png and "
                                                       "metrics.json (default: %(default)s)")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="evaluate only the first N videos")
    p.add_argument("--json", action="store_true", help="JSON output")
    _add_view_args(p)
    p.set_defaults(func=_evaluate, command_parser=p)

    p = sub.add_parser("prepare", help="decode videos once into TFRecord shards",
                       description="Decode RGB frames, optical flow and log-mel audio of a "
                                   "dataset split into sharded TFRecords "
                                   "(actionzoo.data.prepare) for fast training.")
    _add_dataset_args(p)
    p.add_argument("output", help="output folder for shards, manifest.json and classes.json")
    p.add_argument("--modalities", type=_modalities, default="rgb",
                   help="comma-separated subset of rgb,flow,audio (default: %(default)s)")
    p.add_argument("--short-side", type=non_negative_int, default=128,
                   help="stored frame short side; 0 keeps the native size (default: %(default)s)")
    p.add_argument("--videos-per-shard", type=positive_int, default=64)
    p.add_argument("--flow-method", choices=("auto", "tvl1", "farneback"), default="auto")
    p.add_argument("--skip-bad", action="store_true", help="skip undecodable videos instead "
                                                           "of stopping")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_prepare, command_parser=p)

    p = sub.add_parser("demo", help="train all estimators on the demo dataset, write a report",
                       description="Generate the synthetic demo dataset (unless DATA holds "
                                   "split files), train small versions of every estimator and "
                                   "the late-fusion baselines on split 1, print the results "
                                   "table and write results.md, results.json, "
                                   "confusion_matrix.png and training_curves.png "
                                   "(actionzoo.demo.run_demo).")
    p.add_argument("--data", metavar="DIR",
                   help="dataset folder, generated when absent or empty; a generated folder "
                        "is reused only with the same generation parameters (default: "
                        "demo-data, or demo-data-quick with --quick)")
    p.add_argument("--report-dir", default="demo-report", metavar="DIR",
                   help="report folder (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="dataset and model seed (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="tiny configuration (seconds; checks "
                                                        "that the job runs, figures mean nothing)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_demo, command_parser=p)

    p = sub.add_parser("train", help="run a per-paper recipe (experiment script)",
                       description="Run a recipe of the project's recipes/ folder by name, or "
                                   "any recipe .py file, passing it the remaining arguments "
                                   "(`actionzoo train RECIPE --help` for its options).",
                       epilog="Example: actionzoo train corrnet_fusion --quick --output out/")
    p.add_argument("recipe", metavar="RECIPE", help="recipe name (e.g. corrnet_fusion, "
                                                    "correlation_net, stc_net, stfn, "
                                                    "multi_stream_gru) or path to a .py file")
    p.add_argument("recipe_args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments of the recipe")
    p.set_defaults(func=_train, command_parser=p)
    return parser


def _user_errors():
    from actionzoo.weights import WeightsError

    return (WeightsError, ValueError, LookupError, OSError)


def main(argv=None):
    """Run the ``actionzoo`` command; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on an error (message on stderr), 2 on a usage error.
    """
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:  # reported with the usage of the command they were given to
            args.command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    # Before TensorFlow is imported (the commands import it lazily).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")
    with warnings.catch_warnings():
        if not args.verbose:
            warnings.showwarning = _show_warning
        return _run_command(args)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A Python warning as one line, without the source line that raised it."""
    text = " ".join(str(message).split()) or category.__name__
    kind = "" if category is UserWarning else f"{category.__name__}: "
    print(f"actionzoo: warning: {kind}{text}", file=file or sys.stderr)


def _run_command(args):
    try:
        return args.func(args)
    except UsageError as exc:
        args.command_parser.print_usage(sys.stderr)
        print(f"actionzoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("actionzoo: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        print(f"actionzoo: error: {_error_line(exc)}", file=sys.stderr)
        return 1


def _error_line(exc):
    """The first line of an error's message; ``FILE: reason`` for an OSError about a file."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
