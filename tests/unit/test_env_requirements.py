"""What an environment asks for: conda files translated to PyPI terms, MLflow's python_env.yaml
and requirements.txt, and the key and folder of a built environment (no build here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError
from batchml.envs import requirements as reqs
from batchml.envs.cache import cache_root, environment_key
from batchml.envs.requirements import Requirements


def conda(document: dict[str, object]) -> Requirements:
    return reqs.from_conda(specs.Spec(document, "conda.yml", Path.cwd()))


def test_conda_dependencies_become_pypi_requirements() -> None:
    document = {
        "name": "scoring",
        "channels": ["conda-forge"],
        "dependencies": [
            "python=3.10.12",
            "pip=23.1",
            "setuptools",
            "wheel",
            "numpy=1.26",
            "scipy=1.11.4",
            "pandas>=1.2,<3",
            "scikit-learn 1.1.2 py_0",
            "conda-forge::pytorch=2.1.0=py3.10_cuda11.8_0",
            "py-xgboost==1.3.3",
            "pyarrow 14.*",
            "Pillow",
            {"pip": ["tinypkg==1.0", "azureml-core", "./local_pkg"]},
        ],
    }
    assert conda(document) == Requirements(
        "3.10",
        (
            "numpy==1.26.*",
            "scipy==1.11.4",
            "pandas>=1.2,<3",
            "scikit-learn==1.1.2",
            "torch==2.1.0",
            "xgboost==1.3.3",
            "pyarrow==14.*",
            "pillow",
            "tinypkg==1.0",
            "azureml-core",
            "./local_pkg",
        ),
    )


@pytest.mark.parametrize(
    ("spec", "python"),
    [("python", None), ("python=3.11", "3.11"), ("python>=3.8", ">=3.8"), ("python 3.9.*", "3.9")],
)
def test_python_picks_the_interpreter(spec: str, python: str | None) -> None:
    assert conda({"dependencies": [spec]}) == Requirements(python, ())


def test_untranslatable_dependencies_are_refused_each_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "conda.yml"
    path.write_text(
        "dependencies:\n  - numpy\n  - cudatoolkit=11.8\n  - mkl\n  - numpy=1.2|1.3\n"
        "  - 3\n  - x[a=b]\n  - pip: [tinypkg, {a: b}]\n"
    )
    with pytest.raises(InvalidSpecError) as caught:
        reqs.from_environment({"conda_file": str(path)})
    only = "is a conda-only package with no PyPI equivalent (PyPI wheels bundle their native libraries); remove it from the conda file"
    shape = "must be a package spec or {pip: [requirement, ...]}"
    assert [str(p).replace(str(path), "conda.yml") for p in caught.value.problems] == [
        f"conda.yml:3: dependencies.1: cudatoolkit=11.8: cudatoolkit {only}",
        f"conda.yml:4: dependencies.2: mkl: mkl {only}",
        "conda.yml:5: dependencies.3: numpy=1.2|1.3: a conda 'or' (|) has no PyPI equivalent; pick one version",
        f"conda.yml:6: dependencies.4: {shape}",
        "conda.yml:7: dependencies.5: x[a=b]: the [key=value] form of a conda spec has no PyPI equivalent",
        f"conda.yml:8: dependencies.6: {shape}",
    ]


def test_an_environment_record_reads_its_conda_file(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yml"
    conda.write_text("dependencies:\n  - python=3.11\n  - pip:\n    - tinypkg==1.0\n")
    expected = Requirements("3.11", ("tinypkg==1.0",))
    assert reqs.from_environment({"image": "python:3.11", "conda_file": str(conda)}) == expected
    inline = {"dependencies": ["python=3.11", {"pip": ["tinypkg==1.0"]}]}
    assert reqs.from_environment({"image": "python:3.11", "conda_file": inline}) == expected
    assert reqs.from_environment({"image": "python:3.11"}) is None
    with pytest.raises(InvalidSpecError) as caught:
        reqs.from_environment({"conda_file": {"dependencies": ["libgcc"]}})
    assert str(caught.value).startswith("environment.conda_file: dependencies.0: libgcc: libgcc is")


def test_requirements_txt_as_pip_reads_it(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("tinypkg==1.0  # pinned\n")
    (tmp_path / "requirements.txt").write_text(
        "# the model's\n-r base.txt\nmlflow==2.12.1\nnumpy>=1.2,\\\n  <2\n\npkg @ https://x/p.whl#sha=1\n"
    )
    assert reqs.from_requirements_txt(tmp_path / "requirements.txt") == Requirements(
        None, ("tinypkg==1.0", "mlflow==2.12.1", "numpy>=1.2,  <2", "pkg @ https://x/p.whl#sha=1")
    )
    (tmp_path / "requirements.txt").write_text("tinypkg\n--extra-index-url https://x\n")
    with pytest.raises(InvalidSpecError) as caught:
        reqs.from_requirements_txt(tmp_path / "requirements.txt")
    assert str(caught.value) == (
        f"{tmp_path / 'requirements.txt'}:2: the pip option --extra-index-url is not supported; only -r is"
    )


def test_an_mlflow_model_prefers_python_env_yaml(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mlflow==2.12.1\ntinypkg==1.0\n")
    (tmp_path / "conda.yaml").write_text("dependencies: [python=3.9]\n")
    assert reqs.from_mlflow_model(tmp_path) == Requirements(
        None, ("mlflow==2.12.1", "tinypkg==1.0")
    )
    (tmp_path / "python_env.yaml").write_text(
        "python: 3.10.12\nbuild_dependencies:\n  - pip==23.1\ndependencies:\n  - -r requirements.txt\n"
    )
    assert reqs.from_mlflow_model(tmp_path) == Requirements(
        "3.10", ("pip==23.1", "mlflow==2.12.1", "tinypkg==1.0")
    )
    (tmp_path / "python_env.yaml").write_text("python: 3.10\n")
    with pytest.raises(InvalidSpecError, match="must be a quoted version string"):
        reqs.from_mlflow_model(tmp_path)
    assert reqs.from_mlflow_model(tmp_path / "nothing") is None


def test_the_key_depends_on_what_decides_the_content() -> None:
    one = Requirements(None, ("a==1", "b"))
    key = environment_key(one, "3.11", "cpython-linux-x86_64")
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert (
        environment_key(Requirements(None, ("b", "a==1", "b")), "3.11", "cpython-linux-x86_64")
        == key
    )
    assert environment_key(one, "3.10", "cpython-linux-x86_64") != key
    assert environment_key(one, "3.11", "cpython-macosx-14.0-arm64") != key
    assert environment_key(Requirements(None, ("a==2", "b")), "3.11", "cpython-linux-x86_64") != key


def test_the_cache_is_the_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_root() == tmp_path / "cache" / "envs"  # BATCHML_CACHE_DIR, set for every test
    monkeypatch.delenv("BATCHML_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache_root() == Path("/xdg/batchml/envs")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert cache_root() == Path("/home/u/.cache/batchml/envs")
