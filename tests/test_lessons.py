"""Every lesson runs in quick mode (tiny data, one short epoch) and the runner
writes a gallery: a broken lesson fails CI."""
import subprocess
import sys
from pathlib import Path

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
