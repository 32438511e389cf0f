"""The command: python -m scratchcnn.exercises list | start | check | hint.

    list                         every exercise in learning order: its name, what it is
    start NAME [--dir DIR]       write DIR/NAME.py (default my_exercises/), a stub that
                                 raises NotImplementedError; never overwrites a file
    check NAME [--dir DIR]       import NAME from DIR/NAME.py and grade it: exit 0 and
                                 what was checked, or exit 1 and the first thing wrong
    check NAME --solution        grade the library's own implementation instead
    hint NAME [--dir DIR]        the next hint (which ones you saw is kept in
                                 DIR/.hints.json); --reset starts again from the first

Grading runs inside ``scratchcnn.use_reference()``: the plain NumPy room, so no Numba
kernel is compiled and a check takes about a second.
"""
import argparse
import contextlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

from .grading import Failure, NotImplementedYet
from .registry import EXERCISES, exercise

DEFAULT_DIR = "my_exercises"
HINTS_FILE = ".hints.json"
COMMAND = "python -m scratchcnn.exercises"


def _dir_option(folder):
    return "" if Path(folder) == Path(DEFAULT_DIR) else f" --dir {folder}"


def list_exercises():
    width = max(len(e.name) for e in EXERCISES) + 2
    for e in EXERCISES:
        print(f"{e.name:<{width}}{e.description}")
    return 0


def start(name, folder):
    ex = exercise(name)
    path = Path(folder) / f"{name}.py"
    Path(folder).mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x") as file:          # "x": fails if the file exists
            file.write(ex.stub)
    except FileExistsError:
        print(f"{path} exists already: start never overwrites your work.\n"
              f"Grade it with `{COMMAND} check {name}{_dir_option(folder)}`, or move it away "
              "to start over.")
        return 1
    print(f"wrote {path}: write the body of {name}, then run\n"
          f"  {COMMAND} check {name}{_dir_option(folder)}")
    return 0


@contextlib.contextmanager
def _learners_folder(folder):
    """The folder on sys.path (so one exercise can import another) and no bytecode written
    there; afterwards every module imported from it is forgotten, so the next check reads
    the learner's latest edits."""
    folder = str(Path(folder).resolve())
    sys.path.insert(0, folder)
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.dont_write_bytecode = writes_bytecode
        if folder in sys.path:
            sys.path.remove(folder)
        for key, module in list(sys.modules.items()):
            where = getattr(module, "__file__", None) or ""
            if where and os.path.dirname(os.path.abspath(where)) == folder:
                del sys.modules[key]


def load(name, folder):
    """The learner's function ``name`` from FOLDER/NAME.py (call inside _learners_folder)."""
    path = Path(folder) / f"{name}.py"
    if not path.exists():
        raise Failure(f"there is no {path}: run `{COMMAND} start {name}{_dir_option(folder)}` "
                      "first (or pass --dir with the folder that holds it)")
    spec = importlib.util.spec_from_file_location(f"scratchcnn_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise Failure(f"{error.filename or path}, line {error.lineno}: SyntaxError: "
                      f"{error.msg}") from None
    except Exception as error:              # noqa: BLE001 (the learner's file: report it)
        raise Failure(f"importing {path} raised {type(error).__name__}: {error}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise Failure(f"{path} defines no function called {name}: keep the stub's "
                      f"`def {name}(...)` line")
    return function


def check(name, folder, solution=False):
    ex = exercise(name)
    tick = time.perf_counter()
    from ..ops import use_reference
    try:
        with _learners_folder(folder), use_reference():
            function = ex.solution if solution else load(name, folder)
            checked = ex.grade(function)
    except NotImplementedYet as failure:
        print(f"{name}: {failure}\n  File: {Path(folder) / (name + '.py')}")
        return 1
    except Failure as failure:
        print(f"{name}: not passed.\n  {failure}\n"
              f"Fix it and check again; `{COMMAND} hint {name}` gives a hint.")
        return 1
    whose = "the library's implementation" if solution else str(Path(folder) / f"{name}.py")
    print(f"{name}: passed ({whose}, graded in {time.perf_counter() - tick:.1f} s). Checked:")
    for line in checked:
        print(f"  - {line}")
    return 0


def _read_state(path):
    try:
        state = json.loads(path.read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def hint(name, folder, reset=False):
    ex = exercise(name)
    path = Path(folder) / HINTS_FILE
    state = _read_state(path)
    total = len(ex.hints)
    if reset:
        state.pop(name, None)
        message = f"{name}: the hints start again from the first ({total} in all)."
    else:
        shown = int(state.get(name, 0))
        if shown >= total:
            print(f"{name}: all {total} hints shown; the last one again "
                  f"(--reset starts from the first):\n  hint {total} of {total}: {ex.hints[-1]}")
            return 0
        message = f"{name}, hint {shown + 1} of {total}: {ex.hints[shown]}"
        state[name] = shown + 1
    Path(folder).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    print(message)
    return 0


def main(argv=None):
    """Run the command with ``argv`` (default: sys.argv[1:]); returns the exit code."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=(
        "Exercises: write the math yourself, and the graders tell you precisely what is "
        "wrong."))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the exercises, in learning order")
    for command, text in (("start", "write DIR/NAME.py, a stub to fill in"),
                          ("check", "grade DIR/NAME.py"),
                          ("hint", "the next hint for NAME")):
        sub = commands.add_parser(command, help=text)
        sub.add_argument("name", metavar="NAME", help="an exercise (see list)")
        sub.add_argument("--dir", default=DEFAULT_DIR,
                         help=f"the folder of your exercise files (default {DEFAULT_DIR}/)")
        if command == "check":
            sub.add_argument("--solution", action="store_true",
                             help="grade the library's own implementation instead")
        if command == "hint":
            sub.add_argument("--reset", action="store_true",
                             help="start again from the first hint")
    args = parser.parse_args(argv)
    if args.command == "list":
        return list_exercises()
    try:
        exercise(args.name)
    except KeyError as error:
        print(error.args[0])
        return 1
    if args.command == "start":
        return start(args.name, args.dir)
    if args.command == "check":
        return check(args.name, args.dir, args.solution)
    return hint(args.name, args.dir, args.reset)
