"""Run every lesson in order and build an HTML gallery of their figures.

    python lessons/run_all.py            # the full lessons (trains once, then cached)
    python lessons/run_all.py --quick    # tiny data: checks that every lesson runs
    python lessons/run_all.py --only 03  # lessons whose file name starts with 03

Each lesson runs as its own process (exactly as if you ran it yourself), writes
its figures under OUT/<lesson>/, and OUT/index.html shows them all with what the
lesson printed.

On a machine with 2 or more cores two lessons run at a time (``--jobs``), each with
half of the cores' threads: on 2 cores, two one-thread trainings together get 1.3-1.4x
the images/s of one two-thread training (BENCHMARKS.md), and one lesson's
single-threaded work (compiling, plotting) overlaps the other's. A lesson that reads a
model another lesson trains starts after it (AFTER). ``--jobs 1`` runs them one by one
and shows their output live.
"""
import argparse
import html
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import scratchcnn as sc

LESSONS = Path(__file__).resolve().parent


def lesson_files(only=None):
    files = sorted(p for p in LESSONS.glob("[0-9][0-9]_*.py"))
    return [p for p in files if only is None or p.name.startswith(only)]


def docstring_of(path):
    """(title line, the rest) of a lesson's module docstring."""
    source = path.read_text()
    start = source.index('"""') + 3
    text = source[start:source.index('"""', start)].strip()
    title, _, rest = text.partition("\n")
    return title.strip(), rest.strip()


STYLE = """body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em;line-height:1.45}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.95em;color:#333;max-width:60em;margin-top:.4em}
.intro{white-space:pre-wrap;font-size:.92em;background:#f7f7f2;padding:.8em;border-radius:4px}
pre{background:#f4f4f4;padding:.6em;overflow:auto;font-size:.85em}
.fail{color:#b00}.meta{color:#777;font-size:.85em}h2{border-top:2px solid #ccc;padding-top:.6em}"""


def exercises_html(path):
    """The exercises that go with a lesson (each exercise's ``lessons`` in
    scratchcnn/exercises), with the command that starts one; '' if there are none."""
    from scratchcnn.exercises import exercises_for_lesson
    items = "".join(
        f"<li><code>{html.escape(e.name)}</code>: {html.escape(e.description)}. Start it with "
        f"<code>python -m scratchcnn.exercises start {html.escape(e.name)}</code></li>"
        for e in exercises_for_lesson(path.name[:2]))
    return (f"<h3>Exercises: write the math yourself</h3><ul>{items}</ul>"
            "<p class=\"meta\">Then <code>python -m scratchcnn.exercises check NAME</code> "
            "grades it; <code>hint NAME</code> gives one hint at a time.</p>") if items else ""


def write_gallery(out, runs):
    """OUT/index.html: per lesson its introduction, every figure at full width (click for
    the full-size image) with its caption, what the lesson printed, and the exercises
    that go with it. No external assets."""
    sections = []
    for path, ok, seconds, output in runs:
        folder = out / path.stem
        captions_file = folder / "captions.json"
        captions = json.loads(captions_file.read_text()) if captions_file.exists() else {}
        figures = "".join(
            f'<figure id="{html.escape(f"{path.stem}-{png.stem}")}">'
            f'<a href="{html.escape(f"{path.stem}/{png.name}")}">'
            f'<img src="{html.escape(f"{path.stem}/{png.name}")}" '
            f'alt="{html.escape(png.stem)}"></a><figcaption><b>{html.escape(png.name)}</b>: '
            f"{html.escape(captions.get(png.name, 'no caption'))}</figcaption></figure>"
            for png in sorted(folder.glob("*.png")))
        title, intro = docstring_of(path)
        status = "" if ok else ' <span class="fail">FAILED</span>'
        sections.append(
            f'<section id="{path.stem}"><h2>{html.escape(path.stem)}: {html.escape(title)}'
            f'{status}</h2><p class="meta">ran in {seconds:.1f} s</p>'
            f'<div class="intro">{html.escape(intro)}</div>{figures}'
            f"<h3>What the lesson measured and printed</h3><pre>{html.escape(output)}</pre>"
            f"{exercises_html(path)}</section>")
    toc = "".join(f'<li><a href="#{p.stem}">{html.escape(p.stem)}: '
                  f"{html.escape(docstring_of(p)[0])}</a></li>" for p, *_ in runs)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>scratchcnn lessons</title>
<style>{STYLE}</style></head><body>
<h1>scratchcnn: how a convolutional network sees</h1>
<p>Each lesson below is a script in <code>lessons/</code>; every number on this page was
computed by it on the embedded data. Click a figure to open it at full size.</p>
<ol>{toc}</ol>{"".join(sections)}
</body></html>"""
    (out / "index.html").write_text(page)
    return out / "index.html"


# Lessons that load a model another lesson trains (common.py caches it) start after it:
# 04, 07, 08 read the slides' MNIST model of 03; 09 Tang's deep net and Tang's MNIST net
# of 07; 11 the ResNet of 10 and the surface model of 06; 12 the MNIST model of 03 and the
# surface model of 06; 13 the slides' model of 03.
AFTER = {"04": ("03",), "07": ("03",), "08": ("03",), "09": ("07",), "11": ("06", "10"),
         "12": ("03", "06"), "13": ("03",)}
# Side by side, the heads of the longest chains start first (03 -> 07 -> 09, 10 -> 11); when
# 03 ends, 13 starts (the longest lesson: 174 s of the 459 the lessons took when it started
# last), then 07; the short lessons fill the gaps (389 s on the same lesson times).
FIRST = ("03", "10", "13", "07")


def command_for(path, args):
    return [sys.executable, str(path), "--out", str(args.out)] + (["--quick"] if args.quick
                                                                  else [])


def run_one_by_one(paths, args):
    """Each lesson in turn, its output shown live. [(path, ok, seconds, output)]."""
    runs = []
    for path in paths:
        tick = time.perf_counter()
        process = subprocess.Popen(command_for(path, args), cwd=LESSONS, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        lines = []
        for line in process.stdout:             # show progress as it happens
            print(line, end="", flush=True)
            lines.append(line)
        ok = process.wait() == 0
        seconds = time.perf_counter() - tick
        print(f"-- {path.stem}: {'ok' if ok else 'FAILED'} in {seconds:.1f} s\n", flush=True)
        runs.append((path, ok, seconds, "".join(lines)))
    return runs


def run_side_by_side(paths, args):
    """``args.jobs`` lessons at a time, each with cores // jobs threads, each starting only
    after the lessons AFTER names; a lesson's output is shown when it ends.
    [(path, ok, seconds, output)] in lesson order."""
    threads = str(max(1, (os.cpu_count() or 1) // args.jobs))
    env = dict(os.environ, NUMBA_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               OMP_NUM_THREADS=threads)        # no thread waits for a core the other holds
    selected = {path.name[:2] for path in paths}
    pending = sorted(paths, key=lambda path: (FIRST.index(path.name[:2]) if path.name[:2] in FIRST
                                              else len(FIRST), path.name))
    running, done = {}, {}
    while pending or running:
        finished_numbers = {path.name[:2] for path in done}
        for path in list(pending):
            waiting = [before for before in AFTER.get(path.name[:2], ())
                       if before in selected and before not in finished_numbers]
            if len(running) < args.jobs and not waiting:
                pending.remove(path)
                log = tempfile.TemporaryFile(mode="w+")     # no pipe to fill up
                process = subprocess.Popen(command_for(path, args), cwd=LESSONS, env=env,
                                           stdout=log, stderr=subprocess.STDOUT, text=True)
                running[path] = (process, log, time.perf_counter())
                print(f"-- {path.stem}: started", flush=True)
        ended = [path for path, (process, _, _) in running.items() if process.poll() is not None]
        if not ended:
            time.sleep(0.2)
            continue
        for path in ended:
            process, log, tick = running.pop(path)
            log.seek(0)
            output = log.read()
            log.close()
            ok = process.returncode == 0
            seconds = time.perf_counter() - tick
            print(output + f"-- {path.stem}: {'ok' if ok else 'FAILED'} in {seconds:.1f} s\n",
                  flush=True)
            done[path] = (ok, seconds, output)
    return [(path, *done[path]) for path in paths]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, one short epoch")
    parser.add_argument("--out", type=Path, default=LESSONS / "output")
    parser.add_argument("--only", help="run only lessons whose file name starts with this")
    parser.add_argument("--jobs", type=int, default=2 if (os.cpu_count() or 1) >= 2 else 1,
                        help="lessons run at a time (default 2 on 2+ cores)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    args.out.mkdir(parents=True, exist_ok=True)
    for setting, done in sc.runtime.tune().items():   # the lessons inherit its environment
        print(f"runtime.tune: {setting}: {done}")
    tick = time.perf_counter()
    paths = lesson_files(args.only)
    runs = (run_side_by_side if args.jobs > 1 else run_one_by_one)(paths, args)
    gallery = write_gallery(args.out, runs)
    failed = [p.stem for p, ok, *_ in runs if not ok]
    print(f"gallery: {gallery} ({len(runs)} lessons in {time.perf_counter() - tick:.0f} s, "
          f"{args.jobs} at a time)")
    if failed:
        print(f"failed lessons: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
