"""Run every lesson in order and build an HTML gallery of their figures.

    python lessons/run_all.py            # the full lessons (trains once, then cached)
    python lessons/run_all.py --quick    # tiny data: checks that every lesson runs
    python lessons/run_all.py --only 03  # lessons whose file name starts with 03

Each lesson runs as its own process (exactly as if you ran it yourself), writes
its figures under OUT/<lesson>/, and OUT/index.html shows them all with what the
lesson printed.
"""
import argparse
import html
import subprocess
import sys
import time
from pathlib import Path

import scratchcnn as sc

LESSONS = Path(__file__).resolve().parent


def lesson_files(only=None):
    files = sorted(p for p in LESSONS.glob("[0-9][0-9]_*.py"))
    return [p for p in files if only is None or p.name.startswith(only)]


def title_of(path):
    source = path.read_text()
    start = source.index('"""') + 3
    return source[start:source.index("\n", start)].strip()


def write_gallery(out, runs):
    sections = []
    for path, ok, seconds, output in runs:
        folder = out / path.stem
        figures = "".join(
            f'<figure><img src="{html.escape(f"{path.stem}/{png.name}")}" loading="lazy">'
            f"<figcaption>{html.escape(png.name)}</figcaption></figure>"
            for png in sorted(folder.glob("*.png")))
        status = "" if ok else ' <span class="fail">FAILED</span>'
        sections.append(
            f'<section id="{path.stem}"><h2>{html.escape(path.stem)}: '
            f"{html.escape(title_of(path))}{status}</h2>"
            f'<p class="meta">{seconds:.1f} s</p>{figures}'
            f"<details><summary>what it printed</summary><pre>{html.escape(output)}</pre>"
            f"</details></section>")
    toc = "".join(f'<li><a href="#{p.stem}">{html.escape(p.stem)}</a></li>' for p, *_ in runs)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>scratchcnn lessons</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}}
figure{{display:inline-block;margin:.5em;vertical-align:top}}img{{max-width:560px}}
figcaption{{font-size:.8em;color:#555}}pre{{background:#f4f4f4;padding:.5em;overflow:auto}}
.fail{{color:#b00}}.meta{{color:#777;font-size:.85em}}</style></head><body>
<h1>scratchcnn: how a convolutional network sees</h1><ol>{toc}</ol>{"".join(sections)}
</body></html>"""
    (out / "index.html").write_text(page)
    return out / "index.html"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, one short epoch")
    parser.add_argument("--out", type=Path, default=LESSONS / "output")
    parser.add_argument("--only", help="run only lessons whose file name starts with this")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for setting, done in sc.runtime.tune().items():   # the lessons inherit its environment
        print(f"runtime.tune: {setting}: {done}")
    runs = []
    for path in lesson_files(args.only):
        command = [sys.executable, str(path), "--out", str(args.out)] + (
            ["--quick"] if args.quick else [])
        tick = time.perf_counter()
        process = subprocess.Popen(command, cwd=LESSONS, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        lines = []
        for line in process.stdout:             # show progress as it happens
            print(line, end="", flush=True)
            lines.append(line)
        ok = process.wait() == 0
        seconds = time.perf_counter() - tick
        print(f"-- {path.stem}: {'ok' if ok else 'FAILED'} in {seconds:.1f} s\n", flush=True)
        runs.append((path, ok, seconds, "".join(lines)))
    gallery = write_gallery(args.out, runs)
    failed = [p.stem for p, ok, *_ in runs if not ok]
    print(f"gallery: {gallery}")
    if failed:
        print(f"failed lessons: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
