"""What every experiment script shares: its command line and its results table.

Each script in ``experiments/`` tests one claim of a paper and ends by calling
:func:`publish`, which prints the results table and writes it into
``docs/reproduction.md`` between the markers ``<!-- results:KEY start -->`` and
``<!-- results:KEY end -->`` (KEY: the script's name without ``.py``), with the
command, the date and the commit. The page's tables are therefore written by
the scripts, never by hand.

The reading under each table starts with a verdict computed from the numbers
(:func:`verdict`): "reproduced", "on par" or "not shown", then why.

``--quick`` runs (seconds, for the test suite) never touch the page: their
table goes to a copy under the system's temporary directory unless ``--doc``
names another file.
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "reproduction.md")


def parser(description):
    """The options every experiment takes (``--quick``, ``--seeds``, ``--device``, ``--doc``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="tiny data and models, one epoch or so: checks the script runs "
                        "(seconds); the table goes to a temporary file, not the docs")
    p.add_argument("--seeds", type=int, default=3, help="random seeds to run (default 3)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="cpu hides any GPU; gpu fails unless TensorFlow sees one "
                        "(default auto: TensorFlow's choice)")
    p.add_argument("--doc", default=None,
                   help="the page to write the table into (default docs/reproduction.md, "
                        "or a temporary copy with --quick)")
    return p


def parse(p, argv=None):
    """Parse ``argv`` and apply ``--device`` before TensorFlow starts."""
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    elif args.device == "gpu":
        import tensorflow as tf
        if not tf.config.list_physical_devices("GPU"):
            p.error("--device gpu: TensorFlow sees no GPU on this machine")
    # the code that runs is the code checked out now, whatever happens to the tree later
    args.commit = _commit()
    if args.doc is None:
        args.doc = (os.path.join(tempfile.gettempdir(), "actionzoo-reproduction-quick.md")
                    if args.quick else DOC)
    return args


#: The words a reading starts with (see :func:`verdict`).
VERDICTS = ("reproduced", "on par", "not shown")


def verdict(ours, baseline, resolution=0.0):
    """The verdict on the claim "ours beats baseline", from per-seed scores.

    The margin is the larger of the seed-to-seed spread (the standard deviation
    over seeds of ``ours``, pooled with that of ``baseline``) and
    ``resolution`` (e.g. one test video's share of the accuracy). Returns
    "reproduced" when the mean difference exceeds the margin and ours is ahead
    in more than half the seeds, "not shown" when it falls short by more than
    the margin and ours is behind in more than half the seeds, else "on par".

    Parameters
    ----------
    ours, baseline : array-like of float, or float
        One score per seed (higher is better); a float stands for the same
        score in every seed (a deterministic baseline).
    resolution : float, default=0.0
        The smallest difference that counts.
    """
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    baseline = np.broadcast_to(np.asarray(baseline, dtype=float), ours.shape)
    difference = ours - baseline
    spread = float(np.sqrt((ours.var() + baseline.var()) / 2))
    margin = max(spread, resolution)
    majority = len(ours) / 2
    if difference.mean() > margin and (difference > 0).sum() > majority:
        return "reproduced"
    if difference.mean() < -margin and (difference < 0).sum() > majority:
        return "not shown"
    return "on par"


def markdown_table(header, rows):
    """A Markdown table; floats with three decimals."""
    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def seed_table(rows, model_header, names, paper_header, paper, epochs):
    """The table of a comparison of video networks over seeds.

    One line per row of ``rows`` (dicts with ``variant``, ``seed``, ``test``
    and ``reversed`` accuracy, the training ``loss`` per epoch and
    ``seconds``): the model's name (``names[variant]``), the paper's figure
    (``paper(variant)``), seed, both accuracies, the loss at the 0-based
    ``epochs`` and the seconds; then, with several seeds, each variant's mean
    accuracies.
    """
    header = [model_header, paper_header, "seed", "test acc.", "time-reversed test acc.",
              "training loss, epochs " + " / ".join(str(e + 1) for e in epochs), "seconds"]
    lines = [(names[r["variant"]], paper(r["variant"]), r["seed"], r["test"], r["reversed"],
              " / ".join(f"{r['loss'][e]:.2f}" for e in epochs), f"{r['seconds']:.0f}")
             for r in rows]
    if len({r["seed"] for r in rows}) > 1:
        for variant in dict.fromkeys(r["variant"] for r in rows):
            mine = [r for r in rows if r["variant"] == variant]
            lines.append((names[variant], paper(variant), "mean",
                          float(np.mean([r["test"] for r in mine])),
                          float(np.mean([r["reversed"] for r in mine])), "", ""))
    return markdown_table(header, lines)


def _commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        # the code that produces a figure; the page this module writes is not part of it
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "actionzoo", "experiments", "tests", "recipes"],
                               cwd=ROOT, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty.strip() else "")


def write_block(doc, key, text):
    """Replace the text between ``key``'s markers in ``doc`` (appending them if absent)."""
    start, end = f"<!-- results:{key} start -->", f"<!-- results:{key} end -->"
    page = open(doc).read() if os.path.exists(doc) else ""
    block = f"{start}\n{text.strip()}\n{end}"
    if start in page and end in page:
        before, rest = page.split(start, 1)
        page = before + block + rest.split(end, 1)[1]
    else:
        page = page.rstrip("\n") + ("\n\n" if page else "") + block + "\n"
    with open(doc, "w") as f:
        f.write(page)


def publish(args, key, table, reading, label="Reading"):
    """Print ``table`` and write it, the command, date, commit and ``reading`` into the page.

    ``label`` names the paragraph under the table (a claim's reading starts with
    its verdict).
    """
    command = "python experiments/" + os.path.basename(sys.argv[0]) + "".join(
        " " + a for a in sys.argv[1:])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"{table}\n\n{label}: {reading}\n\n"
            f"Produced by `{command}` on {date}, commit {args.commit}, {args.seeds} seed(s).")
    print(text)
    write_block(args.doc, key, text)
    print(f"written to {args.doc} ({key})")
