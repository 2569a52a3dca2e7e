"""README.md promises two fresh-machine commands; CI must run the test one verbatim."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_has_an_app_command_and_a_test_command():
    commands = _commands()
    assert any(c.rstrip().endswith("main.py") for c in commands), commands
    assert any("pytest" in c for c in commands), commands


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(c for c in _commands() if "pytest" in c)
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_every_lab_has_a_screenshot_in_both_languages_shown_in_the_readmes():
    """docs/screenshots/<lang>/<key>.png for every lab of LABS (main.py screenshot --lang),
    each shown in README.md; the Chinese ones in README.zh-CN.md, which README.md links."""
    from gui.labs import LABS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "(README.zh-CN.md)" in readme and "(README.md)" in chinese
    for lang in ("en", "zh_CN"):
        for info in LABS:
            name = f"docs/screenshots/{lang}/{info.key}.png"
            path = ROOT / name
            assert path.is_file(), f"{name} is missing: main.py screenshot --lang {lang}"
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
            assert f"({name})" in readme, f"README.md does not show {name}"
            if lang == "zh_CN":
                assert f"({name})" in chinese, f"README.zh-CN.md does not show {name}"
    assert not list((ROOT / "docs" / "screenshots").glob("*.png"))  # no stale pictures
