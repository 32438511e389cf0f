"""Importing scratchcnn changes nothing in the process; the engine chooses Numba's
threading layer at its first kernel, unless the user chose one, and says so in
sc.runtime.report(); sc.runtime.tune() applies its two settings, keeps a setting the user
made, and changes nothing on a second call. Each case runs in a fresh interpreter, so
this test process is left as it was."""
import json
import os
import subprocess
import sys

TUNED_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER",
                   "NUMBA_THREADING_LAYER_PRIORITY")
FIRST_KERNEL = ("import numpy as np; sc.zoo.slides_mnist_model().forward("
                "np.zeros((2, 1, 28, 28), np.float32)); ")


def run(code, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in TUNED_VARIABLES}
    env.update(env_changes)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


REPORT = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in %r}))"
          % (TUNED_VARIABLES,))


def test_import_changes_no_setting():
    assert run("import scratchcnn; " + REPORT) == dict.fromkeys(TUNED_VARIABLES)
    code = ("import json, sys, scratchcnn as sc; print(json.dumps({'numba': 'numba' in "
            "sys.modules, 'report': sc.runtime.report()}))")
    report = run(code)
    assert report["numba"] is False                      # not even loaded
    assert report["report"]["threading_layer"] is None and report["report"]["tune"] is None


def test_the_engine_chooses_workqueue_at_its_first_kernel():
    code = ("import json, numba, scratchcnn as sc; before = numba.config.THREADING_LAYER; "
            + FIRST_KERNEL + "print(json.dumps({'before': before, 'layer': "
            "numba.threading_layer(), 'report': sc.runtime.report()}))")
    report = run(code)
    assert report["before"] == "default"                 # import scratchcnn chose nothing
    assert report["layer"] == "workqueue" == report["report"]["threading_layer"]
    assert report["report"]["chosen_by"].startswith("scratchcnn")


def test_the_engine_keeps_the_users_choice():
    code = ("import json, numba, scratchcnn as sc; " + FIRST_KERNEL +
            "print(json.dumps({'layer': numba.threading_layer(), 'report': sc.runtime.report()}))")
    by_environment = run(code, NUMBA_THREADING_LAYER="omp")
    assert by_environment["layer"] == "omp" == by_environment["report"]["threading_layer"]
    assert "yours" not in by_environment["report"]["chosen_by"] and \
        by_environment["report"]["chosen_by"].startswith("you")
    in_code = run("import json, numba; numba.config.THREADING_LAYER = 'omp'; "
                  "import scratchcnn as sc; " + code.split("; ", 1)[1])
    assert in_code["layer"] == "omp" and in_code["report"]["chosen_by"].startswith("you")
    started = run("import numba, numpy as np\n"
                  "@numba.njit(parallel=True)\n"
                  "def f(a):\n"
                  "    for i in numba.prange(a.size): a[i] += 1\n"
                  "f(np.zeros(4))\n"
                  "import json, scratchcnn as sc\n" + FIRST_KERNEL.replace("; ", "\n") +
                  "print(json.dumps(sc.runtime.report()))")
    assert started["threading_layer"] == "omp"           # Numba's own default, already running
    assert started["chosen_by"].startswith("Numba's threads were already running")


def test_tune_applies_the_settings_once():
    code = ("import json, os, numpy, scratchcnn as sc; first = sc.runtime.tune(); "
            "second = sc.runtime.tune(); numpy.ones((300, 300)) @ numpy.ones((300, 300)); "
            "print(json.dumps({'first': first, 'same': first == second, 'report': "
            "sc.runtime.report(), 'env': {k: os.environ.get(k) for k in %r}}))"
            % (TUNED_VARIABLES,))
    report = run(code)
    assert report["env"] == dict(dict.fromkeys(TUNED_VARIABLES), OPENBLAS_THREAD_TIMEOUT="12")
    assert set(report["first"]) == {"malloc", "openblas_threads"}
    assert "restarted" in report["first"]["openblas_threads"]     # numpy's OpenBLAS is loaded
    assert report["same"] and report["report"]["tune"] == report["first"]


def test_tune_keeps_the_users_settings():
    code = ("import json, scratchcnn as sc; print(json.dumps(sc.runtime.tune()))")
    report = run(code, OPENBLAS_THREAD_TIMEOUT="7", SCRATCHCNN_DEFAULT_MALLOC="1")
    assert report["openblas_threads"] == "OPENBLAS_THREAD_TIMEOUT=7 (yours, kept)"
    assert report["malloc"] == "glibc default (SCRATCHCNN_DEFAULT_MALLOC=1)"
