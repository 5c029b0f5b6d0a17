"""The documentation site (mkdocs.yml) builds with warnings as errors.

This is what ``make docs`` runs. mkdocstrings reads the docstrings
statically (griffe), so the build imports neither actionzoo nor TensorFlow
and takes a few seconds. A docstring griffe cannot parse, a broken link
between pages or a page missing from the navigation fails the build.
"""
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ESTIMATORS = (
    "CorrNetFusion", "LateFusion", "CorrelationNet", "STCNet", "STFN",
    "TwoStreamFeatures", "MultiStreamGRU", "EmbeddingAnomalyDetector",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "-f", str(REPO / "mkdocs.yml"), "-d", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr}\n{proc.stdout}"
    return out


def _text(path):
    """The visible text of an HTML page, tags removed, whitespace folded."""
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(text))


PAGES = (
    "index.html", "installation/index.html", "quickstart/index.html",
    "guides/corrnet_fusion/index.html", "guides/correlation_net/index.html",
    "guides/stc_net/index.html", "guides/stfn/index.html",
    "guides/multi_stream_gru/index.html", "data/index.html", "weights/index.html",
    "cli/index.html", "estimator_contract/index.html", "performance/index.html",
    "model_cards/corrnet_fusion/index.html", "model_cards/correlation_net/index.html",
    "model_cards/stc_net/index.html", "model_cards/stfn/index.html",
    "model_cards/multi_stream_gru/index.html",
)

# One test per concern rather than per page: each test pays conftest's
# autouse Keras session reset, which the docs do not need.


def test_pages_built(site):
    missing = [page for page in PAGES if not (site / page).is_file()]
    assert not missing, missing


def test_api_reference_has_every_estimator_with_its_signature(site):
    estimators = (site / "api/estimators/index.html").read_text(encoding="utf-8")
    for name in ESTIMATORS:
        assert f'id="actionzoo.estimators.{name}"' in estimators, name
    text = _text(site / "api/estimators/index.html")
    # merge_init_into_class: the class signature shows the hyper-parameters.
    assert "CorrNetFusion(hidden_units=(4096,4096),normalize='row_l2'" in text.replace(" ", "")
    assert "entropy_threshold" in text and "Parameters" in text


API_ANCHORS = (
    ("api/layers/index.html", "actionzoo.layers.Correlation"),
    ("api/models/index.html", "actionzoo.models.correlation_net.correlation_net"),
    ("api/models/index.html", "actionzoo.models.video_resnet.video_resnet"),
    ("api/models/index.html", "actionzoo.models.efficientnet_lite.efficientnet_lite0"),
    ("api/convert/index.html", "actionzoo.convert.convert_checkpoint"),
    ("api/convert/index.html", "actionzoo.convert.SOURCE_PREPROCESSING"),
    ("api/data/index.html", "actionzoo.data.datasets.load_ucf101"),
    ("api/weights/index.html", "actionzoo.weights.load_pretrained"),
    ("api/metrics/index.html", "actionzoo.metrics.top_k_accuracy"),
    ("api/flops/index.html", "actionzoo.flops.count_flops"),
)


def test_api_pages(site):
    missing = [(page, anchor) for page, anchor in API_ANCHORS
               if f'id="{anchor}"' not in (site / page).read_text(encoding="utf-8")]
    assert not missing, missing


def test_sphinx_roles_become_links(site):
    """docs/_ext/sphinx_roles.py: ``:class:`~actionzoo.layers.STCBlock``` in
    STCNet's docstring is a link to the layers page, and no raw role is left."""
    estimators = (site / "api/estimators/index.html").read_text(encoding="utf-8")
    assert 'href="../layers/#actionzoo.layers.STCBlock"' in estimators
    raw = [page.parent.name for page in (site / "api").glob("*/index.html")
           if re.search(r":(class|func|meth|mod):`", _text(page))]
    assert not raw, raw


def test_search_index_built(site):
    assert (site / "search/search_index.json").stat().st_size > 10_000
