"""Importing scratchcnn changes nothing in the process; sc.runtime.tune() applies its
three settings, keeps a setting the user made, and changes nothing on a second call.
Each case runs in a fresh interpreter, so this test process is left as it was."""
import json
import os
import subprocess
import sys

TUNED_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")


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


def test_tune_applies_the_settings_once():
    code = ("import json, os, numpy, scratchcnn as sc; first = sc.runtime.tune(); "
            "second = sc.runtime.tune(); numpy.ones((300, 300)) @ numpy.ones((300, 300)); "
            "print(json.dumps({'first': first, 'same': first == second, "
            "'env': {k: os.environ.get(k) for k in %r}}))" % (TUNED_VARIABLES,))
    report = run(code)
    assert report["env"] == {"OPENBLAS_THREAD_TIMEOUT": "12", "OMP_WAIT_POLICY": "passive"}
    assert set(report["first"]) == {"numba_threads", "malloc", "openblas_threads"}
    assert "restarted" in report["first"]["openblas_threads"]     # numpy's OpenBLAS is loaded
    assert report["same"]


def test_tune_keeps_the_users_settings():
    code = ("import json, scratchcnn as sc; print(json.dumps(sc.runtime.tune()))")
    report = run(code, OPENBLAS_THREAD_TIMEOUT="7", OMP_WAIT_POLICY="active")
    assert report["openblas_threads"] == "OPENBLAS_THREAD_TIMEOUT=7 (yours, kept)"
    assert report["numba_threads"] == "OMP_WAIT_POLICY=active (yours, kept)"
