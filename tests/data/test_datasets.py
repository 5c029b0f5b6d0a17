"""UCF101 / HMDB51 split-file parsers."""
import os

import numpy as np
import pytest

from actionzoo.data.datasets import load_hmdb51, load_ucf101, ucf101_groups


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


@pytest.fixture
def ucf_root(tmp_path):
    root = tmp_path / "UCF-101"
    ann = tmp_path / "ucfTrainTestlist"  # official layout: annotations next to the videos
    ann.mkdir()
    (ann / "classInd.txt").write_text("1 ApplyEyeMakeup\r\n2 HandStandPushups\r\n")
    (ann / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n")
    (ann / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n"
        "HandstandPushups/v_HandStandPushups_g01_c01.avi\r\n")
    for rel in ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
                "HandstandPushups/v_HandStandPushups_g08_c01.avi",
                "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
                "HandstandPushups/v_HandStandPushups_g01_c01.avi"]:
        touch(os.fspath(root / rel))
    return root


def test_ucf101_train_and_test(ucf_root):
    train = load_ucf101(ucf_root, split=1, subset="train")
    assert train.classes == ["ApplyEyeMakeup", "HandStandPushups"]
    assert train.labels.tolist() == [0, 1] and train.labels.dtype == np.int64
    assert train.paths[0] == os.path.join(os.fspath(ucf_root),
                                          "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi")
    test = load_ucf101(ucf_root, split=1, subset="test")
    # from folder names, case-insensitive like the official lists
    assert test.labels.tolist() == [0, 1]
    assert len(test) == 2


def test_ucf101_missing_video_is_named(ucf_root):
    os.remove(ucf_root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi")
    with pytest.raises(FileNotFoundError, match="1 UCF101 video.*v_ApplyEyeMakeup_g01_c01.avi"):
        load_ucf101(ucf_root, subset="test")
    assert len(load_ucf101(ucf_root, subset="test", check_files=False)) == 2


def test_ucf101_missing_split_files(ucf_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="trainlist02.txt"):
        load_ucf101(ucf_root, split=2)
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        load_ucf101(tmp_path / "x" / "elsewhere")
    with pytest.raises(ValueError, match="split"):
        load_ucf101(ucf_root, split=4)


def test_ucf101_malformed_line_names_file_and_line(ucf_root, tmp_path):
    (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/x.avi 1\nbad line here\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:2"):
        load_ucf101(ucf_root, check_files=False)


@pytest.fixture
def hmdb_root(tmp_path):
    root = tmp_path / "hmdb51"
    ann = root / "testTrainMulti_7030_splits"
    ann.mkdir(parents=True)
    for cls in ["wave", "brush_hair"]:
        for split in (1, 2, 3):
            (ann / f"{cls}_test_split{split}.txt").write_text(
                f"{cls}_a.avi 1 \n{cls}_b.avi 2 \n{cls}_c.avi 0 \n" if split == 1
                else f"{cls}_a.avi 2 \n")
        for v in "abc":
            touch(os.fspath(root / cls / f"{cls}_{v}.avi"))
    return root


def test_hmdb51_markers(hmdb_root):
    train = load_hmdb51(hmdb_root, split=1, subset="train")
    assert train.classes == ["brush_hair", "wave"]
    assert [os.path.basename(p) for p in train.paths] == ["brush_hair_a.avi", "wave_a.avi"]
    assert train.labels.tolist() == [0, 1]
    test = load_hmdb51(hmdb_root, split=1, subset="test")
    assert [os.path.basename(p) for p in test.paths] == ["brush_hair_b.avi", "wave_b.avi"]
    assert len(load_hmdb51(hmdb_root, split=2, subset="train")) == 0


def test_hmdb51_errors(hmdb_root):
    os.remove(hmdb_root / "wave" / "wave_b.avi")
    with pytest.raises(FileNotFoundError, match="wave_b.avi"):
        load_hmdb51(hmdb_root, subset="test")
    bad = hmdb_root / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    bad.write_text("wave_a.avi 7\n")
    with pytest.raises(ValueError, match="wave_test_split1.txt:1"):
        load_hmdb51(hmdb_root, check_files=False)


def test_ucf101_groups_from_file_names():
    paths = ["UCF-101/Jump/v_Jump_g08_c01.avi", "v_Run_g12_c03.avi", "x/v_A_B_g01_c07.mp4"]
    assert ucf101_groups(paths).tolist() == [8, 12, 1]
    assert ucf101_groups(paths + ["hmdb/brush_hair/clip_0.avi"]) is None
    assert ucf101_groups(["v_Jump_g08.avi"]) is None  # no clip number: not the layout


def test_load_folder_reads_class_folders_and_warns_about_an_empty_one(tmp_path):
    from actionzoo.data import MissingFileError, load_folder

    for rel in ["run/b.MP4", "run/deep/a.avi", "jump/x.mkv", "jump/notes.txt", ".hidden/h.avi"]:
        touch(os.fspath(tmp_path / rel))
    (tmp_path / "wave").mkdir()
    with pytest.warns(UserWarning, match=r"wave: class folder without videos .*'wave' left out"):
        split = load_folder(tmp_path)
    assert split.classes == ["jump", "run"]
    assert [os.path.relpath(p, tmp_path) for p in split.paths] == [
        "jump/x.mkv", "run/b.MP4", os.path.join("run", "deep", "a.avi")]
    assert split.labels.tolist() == [0, 1, 1] and split.labels.dtype == np.int64
    with pytest.raises(MissingFileError, match="no such directory"):
        load_folder(tmp_path / "absent")
    (tmp_path / "only-empty" / "idle").mkdir(parents=True)
    with pytest.raises(MissingFileError, match="no videos"), pytest.warns(UserWarning):
        load_folder(tmp_path / "only-empty")


def test_ucf101_error_on_a_folder_of_class_folders_suggests_load_folder(tmp_path):
    from actionzoo.data import MissingFileError

    touch(os.fspath(tmp_path / "videos" / "run" / "a.avi"))
    with pytest.raises(MissingFileError, match=r"no UCF101 split files \(classInd.txt\).*"
                                              r"load_folder\(root\) \(command line: "
                                              r"--dataset folder\)") as err:
        load_ucf101(tmp_path / "videos")
    assert isinstance(err.value, ValueError) and "annotation_dir=" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="split files") as err:
        load_ucf101(tmp_path / "empty")
    assert "load_folder" not in str(err.value)
