"""The table of registry weights in docs/weights.md: size, cost and published accuracy.

For every entry of the shipped registry: the network's parameters and
multiply-adds of one clip at the entry's input size (``actionzoo.flops``),
the size of its ``.weights.h5`` file (the shipped file, or for a converted
entry the file Keras writes for that architecture: the same tensors, so the
same bytes as the conversion), and the accuracy its source publishes with the
protocol and the citation (``metrics`` of the manifest). Nothing is
downloaded.

    PYTHONPATH=. python benchmarks/weights_table.py   # from the checkout root
"""
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from actionzoo import weights  # noqa: E402
from actionzoo.flops import count_flops, count_params  # noqa: E402


def file_size(info, model):
    shipped = weights.SHIPPED_DIR / info.file
    if shipped.is_file():
        return shipped.stat().st_size
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, info.file)
        model.save_weights(path)
        return os.path.getsize(path)


def accuracy(metrics):
    if "top1" not in metrics:
        return "not published", ""
    top1, top5 = metrics["top1"], metrics.get("top5")
    scale = 100 if top1 <= 1 else 1  # demo entries record fractions
    figure = f"{top1 * scale:.2f}" + (f" / {top5 * scale:.2f}" if top5 is not None else "")
    parts = [metrics.get("dataset", ""), metrics.get("protocol"),
             metrics.get("source") or "this project's recipe"]
    return figure, "; ".join(p for p in parts if p)


def main():
    print("| entry | input | params (M) | multiply-adds (G) | file (MB) | top-1 / top-5 (%) "
          "| protocol; source |")
    print("|---|---|---:|---:|---:|---|---|")
    for name in weights.list_pretrained():
        info = weights.pretrained_info(name)
        model = info.build_model()
        prep = info.preprocessing
        frames = f"{prep.clip_length}x" if prep.clip_length > 1 else ""
        figure, protocol = accuracy(info.metrics)
        print(f"| `{name}` | {frames}{prep.input_size}x{prep.input_size} "
              f"| {count_params(model) / 1e6:.2f} | {count_flops(model) / 1e9:.2f} "
              f"| {file_size(info, model) / 1e6:.1f} | {figure} | {protocol} |", flush=True)


if __name__ == "__main__":
    main()
