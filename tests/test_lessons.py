"""Every lesson runs in quick mode (tiny data, one short epoch) and the runner
writes a gallery: a broken lesson fails CI. Every image of the gallery exists and
has a caption of at least 12 words."""
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = Path(__file__).resolve().parent.parent / "lessons"


def test_every_lesson_runs_in_quick_mode(tmp_path):
    result = subprocess.run([sys.executable, str(LESSONS / "run_all.py"), "--quick",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lessons = sorted(p.stem for p in LESSONS.glob("[0-9][0-9]_*.py"))
    assert len(lessons) >= 3
    page = (tmp_path / "index.html").read_text()
    for stem in lessons:
        figures = list((tmp_path / stem).glob("*.png"))
        assert figures, f"{stem} saved no figure"
        assert stem in page and figures[0].name in page
    shown = re.findall(r'<img src="([^"]+)"[^>]*></a><figcaption>(.*?)</figcaption>', page)
    assert len(shown) == len(list(tmp_path.glob("[0-9][0-9]_*/*.png")))
    for source, caption in shown:
        assert (tmp_path / html.unescape(source)).is_file(), source
        words = re.sub(r"<[^>]+>", " ", html.unescape(caption)).split()[1:]   # after the name
        assert len(words) >= 12, (source, caption)


def test_the_caption_check_catches_a_short_caption(tmp_path):
    """Negative control: common.save refuses a caption that says too little."""
    sys.path.insert(0, str(LESSONS))
    try:
        import common
    finally:
        sys.path.remove(str(LESSONS))
    from matplotlib.figure import Figure

    class Args:
        dir = tmp_path
    with pytest.raises(ValueError, match="12 words at least"):
        common.save(Figure(), Args, "x.png", "a figure")


SHARED_MODELS = ("seed_model", "resnet_model", "tang_mnist_model", "tang_deep_model",
                 "surface_model")


def waits_for(after, number):
    """Every lesson number that ``number`` waits for through run_all.AFTER, transitively."""
    waited, todo = [], list(after.get(number, ()))
    while todo:
        before = todo.pop()
        if before not in waited:
            waited.append(before)
            todo += after.get(before, ())
    return waited


def shared_model_users():
    """{model function: lesson numbers calling it, in order} from the lessons' source."""
    users = {}
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.py")):
        for name in set(re.findall(r"common\.(\w+)\(", path.read_text())) & set(SHARED_MODELS):
            users.setdefault(name, []).append(path.name[:2])
    return users


def test_run_all_starts_a_lesson_after_the_one_that_trains_its_model():
    """Side by side, a lesson that loads a cached model must start after the first lesson
    that calls the same common.*_model function (which trains it): run_all.AFTER must say
    so, directly or through a chain, or two lessons would train the same model at once."""
    sys.path.insert(0, str(LESSONS))
    try:
        import run_all
    finally:
        sys.path.remove(str(LESSONS))
    users = shared_model_users()
    assert set(users) == set(SHARED_MODELS)
    for name, numbers in users.items():
        trainer = numbers[0]
        for later in numbers[1:]:
            assert trainer in waits_for(run_all.AFTER, later), (name, later, trainer)
    broken = {k: v for k, v in run_all.AFTER.items() if k != "09"}     # negative controls
    assert any(users["tang_deep_model"][0] not in waits_for(broken, later)
               for later in users["tang_deep_model"][1:])
    half = dict(run_all.AFTER, **{"12": ("03",)})          # 12 forgets the surface model of 06
    assert any(users["surface_model"][0] not in waits_for(half, later)
               for later in users["surface_model"][1:])
