"""`main.py animation`: a lab's default animation as a GIF; bad input is one line, exit 2."""

from __future__ import annotations

import pytest

from engine.gif import read_gif_frames
from tests.test_cli import assert_one_error_line, run


@pytest.mark.parametrize("argv, words", [
    (["animation", "--lab", "pooling", "--out", "/no/such/folder/a.gif"], ["does not exist"]),
    (["animation", "--lab", "training", "--out", "a.gif"], ["training"]),
    (["animation", "--out", "a.gif"], ["--lab"]),
    (["animation", "--lab", "pooling"], ["--out"]),
    (["animation", "--lab", "pooling", "--out", "a.gif", "--speed", "0"], ["0"]),
])
def test_bad_arguments_are_one_line(capsys, argv, words):
    code, _out, err = run(argv, capsys)
    assert_one_error_line(code, err, *words)


def test_a_folder_as_the_output_is_refused(capsys, tmp_path):
    code, _out, err = run(["animation", "--lab", "backprop", "--out", str(tmp_path)], capsys)
    assert_one_error_line(code, err, "is a folder")


def test_the_pooling_animation_is_written_in_chinese_too(capsys, tmp_path):
    out = tmp_path / "pool.gif"
    code, stdout, err = run(["animation", "--lab", "pooling", "--out", str(out), "--lang",
                             "zh_CN", "--speed", "4"], capsys)
    assert code == 0, err
    frames, durations, _size = read_gif_frames(out)
    assert frames == 9 and durations == [250] * 9
    assert str(out) in stdout
