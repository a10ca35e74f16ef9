"""A task function defined in a script's ``__main__`` (pickled by value) fails on a worker: the traceback
printed in the script names the script's file, the line and its source text, with no frame of ours
beyond the one dask shows (``Future.result``)."""
import re
import subprocess
import textwrap

from procs import PYTHON, TIMEOUT, clean_env

SCRIPT = textwrap.dedent('''\
    import sys
    import traceback

    from jupyter_futures import Client


    def helper(x):
        return 1 / x


    def bad(x):
        return helper(x) + 1


    if __name__ == "__main__":
        with Client(n_workers=1, threads_per_worker=1) as client:
            future = client.submit(bad, 0)
            try:
                future.result(timeout=TIMEOUT)
            except ZeroDivisionError:
                traceback.print_exc()
            print("REMOTE", "".join(traceback.format_tb(future.traceback())), file=sys.stderr)
    ''').replace("TIMEOUT", str(TIMEOUT))


def run_script(tmp_path) -> tuple[str, str]:
    path = tmp_path / "failing_script.py"
    path.write_text(SCRIPT)
    done = subprocess.run([PYTHON, str(path)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=TIMEOUT * 2)
    assert done.returncode == 0, done.stderr
    return str(path), done.stderr


def line_of(text: str) -> int:
    return SCRIPT.splitlines().index(text) + 1


def test_the_traceback_names_the_scripts_file_line_and_source_text(tmp_path):
    path, stderr = run_script(tmp_path)
    printed = stderr.split("REMOTE")[0]
    for name, text in (("bad", "    return helper(x) + 1"), ("helper", "    return 1 / x")):
        assert f'File "{path}", line {line_of(text)}, in {name}\n    {text.strip()}' in printed, printed
    assert "<dynamic-code>" not in stderr
    remote = stderr.split("REMOTE")[1]
    assert f'File "{path}", line {line_of("    return 1 / x")}, in helper\n    return 1 / x' in remote


def test_between_the_callers_line_and_the_tasks_frames_only_future_result_is_ours(tmp_path):
    path, stderr = run_script(tmp_path)
    printed = stderr.split("REMOTE")[0]
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', printed)
    assert frames[0] == (path, "<module>")
    assert [name for file, name in frames[1:] if file != path] == ["result"]
    assert [name for file, name in frames[1:] if file == path] == ["bad", "helper"]


def test_a_function_pickled_by_value_keeps_its_file_name_only_when_that_is_a_file(tmp_path):
    from jupyter_futures.protocol import serialize

    path = tmp_path / "module_of_f.py"
    path.write_text("def f():\n    return 1\n")
    for filename, kept in ((str(path), str(path)), ("<a notebook cell>", "<dynamic-code>")):
        namespace = {"__name__": "jf_not_importable"}  # not importable: cloudpickle pickles f by value
        exec(compile(path.read_text(), filename, "exec"), namespace)
        copy = serialize.loads(serialize.dumps(namespace["f"]))
        assert copy.__code__.co_filename == kept and copy() == 1
