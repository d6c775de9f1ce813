"""What ships, from ``make build`` (``glue_local.build``): locked requirements, Python 3.11 bytecode, no
package shadowing the runtime's, and every handler importing in a clean interpreter that holds only its
artifact and the Lambda runtime's boto3. The end-to-end story runs on the same artifacts
(``tests/e2e/test_demo_e2e.py``): one real code path per function, every client it uses.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from glue_local import build
from glue_local.functions import ArtifactFunction, FunctionError, load_artifact

RUNTIME_MODULES = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}
# shadowing the runtime's copy on purpose, at the lock's version: requests needs urllib3 2 and
# Powertools the lock's jmespath; botocore (the runtime's) works with both
PINNED_ON_PURPOSE = {"jmespath", "urllib3"}


# physical names of the resources the functions' environments refer to (no stack is created here)
PHYSICAL = {
    "StateTable": "mlops-glue-state-dev",
    "WebhookIntakeQueue": "https://sqs.eu-west-1.amazonaws.com/123456789012/mlops-glue-webhook-intake-dev.fifo",
    "WebhookIntakeDLQ": "https://sqs.eu-west-1.amazonaws.com/123456789012/mlops-glue-webhook-intake-dlq-dev.fifo",
}


@pytest.fixture(scope="module")
def built() -> None:
    build.ensure_built()


def _artifact_dirs() -> list[Path]:
    dirs = {p for fn in build.functions() for p in build.artifact_paths(fn)}
    return sorted(dirs - {build.RUNTIME_DIR})


def test_requirements_are_the_lock_exported_with_hashes(built: None) -> None:
    assert build.requirements(check=True) == 0  # what uv.lock exports today, byte for byte
    for req in build.REQUIREMENTS:
        lines = [ln for ln in req.path.read_text().splitlines() if ln and not ln.lstrip().startswith("#")]
        specs = [ln for ln in lines if not ln.startswith(" ")]
        assert specs and all("==" in s and s.endswith("\\") for s in specs), req.path  # pinned, hashes follow
        assert all(ln.lstrip().startswith("--hash=sha256:") for ln in lines if ln.startswith(" "))
        names = {s.split("==")[0] for s in specs}
        assert not names & {"boto3", "botocore", "s3transfer"}, req.path


def test_every_module_ships_as_python_311_bytecode_never_revalidated(built: None) -> None:
    for root in _artifact_dirs():
        sources = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
        assert sources, root
        missing = []
        for src in sources:
            pyc = src.parent / "__pycache__" / f"{src.stem}.cpython-311.pyc"
            if not pyc.exists():
                missing.append(str(src.relative_to(root)))
                continue
            flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
            assert flags == 0b01, f"{pyc}: not an unchecked hash-based .pyc (flags {flags:#b})"
        assert missing == [], f"{root}: no .pyc for {missing[:5]}"


def test_nothing_shadows_the_runtime_but_what_is_pinned_on_purpose(built: None) -> None:
    for root in _artifact_dirs():
        top = {p.name.removesuffix(".py") for p in root.iterdir()}
        assert top & RUNTIME_MODULES <= PINNED_ON_PURPOSE, root
    pinned = {s.split("==")[0] for s in build.REQUIREMENTS[0].path.read_text().splitlines() if "==" in s}
    assert pinned >= PINNED_ON_PURPOSE


@pytest.mark.parametrize("logical_id", build.functions())
def test_each_handler_imports_from_its_artifact_alone(built: None, logical_id: str, tmp_path: Path) -> None:
    from glue_local.aws_local import _resolver, functions_from_template

    fd = functions_from_template(_resolver(_parameters(), PHYSICAL, {}))[logical_id]
    with open(tmp_path / "log", "w") as log:
        fn = load_artifact(fd, log, {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-west-1"})
        worker = fn._start()
        fn.workers.append(worker)
        fn.close()
    assert worker.import_s > 0
    assert worker.foreign == []  # nothing but the artifact, its layers, the runtime and the stdlib


def test_the_registry_client_is_mlflows_rest_api_on_the_layers_requests(built: None) -> None:
    """The gating and rollback paths talk to MLflow through its REST API (the e2e story runs them against
    a real MLflow server); mlflow-skinny is not shipped."""
    layer = build.BUILD_DIR / "GlueLayer" / "python"
    assert not (layer / "mlflow").exists() and (layer / "requests").is_dir()
    for logical_id in ("MlflowWebhookFunction", "ArgocdNotificationFunction"):
        paths = [str(p) for p in build.artifact_paths(logical_id)]
        code = (
            "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
            "from mlops_glue.adapters.registry import MlflowRestRegistry; "
            "r = MlflowRestRegistry('http://127.0.0.1:9'); import requests, urllib3; "
            "print(type(r.session).__module__, requests.__file__)"
        )
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", code, json.dumps(paths)],
            capture_output=True,
            text=True,
            check=True,
        )
        module, origin = out.stdout.split()
        assert module == "requests.sessions" and origin.startswith(str(layer))


KERNEL_CHECK = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
import numpy as np
from mlops_glue.drift import binning
b = binning.Binner(np.linspace(0.0, 1.0, 101))
x = np.random.default_rng(1).random(10_000)
counts, offsets = np.zeros(102, np.int64), np.zeros(102)
b.accumulate(x, 0.5, counts, offsets, None)
print(json.dumps({"kernel": binning.KERNEL, "avx2": binning.KERNEL_AVX2, "file": binning.__file__,
    "right": counts.tolist() == np.bincount(np.searchsorted(b.edges, x, side="right"), minlength=102).tolist()}))
"""


def test_the_image_counts_with_its_compiled_kernel(built: None) -> None:
    """The image carries the drift kernel built for Lambda (x86-64, no glibc symbol newer than the
    python3.11 runtime's 2.26; the kernel calls none) and loads it in a clean interpreter."""
    drift = build.IMAGE_DIR / "S3NewDataFunction" / "mlops_glue" / "drift"
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("the image's kernel is built on a Linux x86_64 machine only (the build says so)")
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler on this build machine: the image counts with numpy (the build says so)")
    so = drift / build.KERNEL_NAME
    data = so.read_bytes()
    assert data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 62  # EM_X86_64
    needed = {tuple(map(int, v.split(b"."))) for v in re.findall(rb"GLIBC_(\d+\.\d+)", data)}
    assert all(v <= (2, 26) for v in needed), needed
    assert not list(build.BUILD_DIR.glob("*/python/mlops_glue/drift/_bins.*.so"))  # the zip layer: no numpy
    paths = [str(p) for p in build.artifact_paths("S3NewDataFunction")]
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", KERNEL_CHECK, json.dumps(paths)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    got = json.loads(out.stdout)
    assert got["kernel"] == "compiled" and got["right"], got
    assert got["avx2"] is (" avx2" in Path("/proc/cpuinfo").read_text()), got  # blocks where the CPU has it
    assert got["file"].startswith(str(build.IMAGE_DIR))


def test_an_artifact_missing_a_dependency_fails_to_import(built: None, tmp_path: Path) -> None:
    """The isolation holds: without its layer a function cannot borrow the test environment's packages."""
    from glue_local.aws_local import _resolver, functions_from_template

    fd = functions_from_template(_resolver(_parameters(), PHYSICAL, {}))["CloudwatchAlarmFunction"]
    with open(tmp_path / "log", "w") as log:
        fn = ArtifactFunction(
            fd, [build.BUILD_DIR / fd.logical_id, build.RUNTIME_DIR], {"PATH": "/usr/bin:/bin"}, log
        )
        with pytest.raises(FunctionError, match="No module named 'aws_lambda_powertools'"):
            fn._start()


def _parameters() -> dict[str, Any]:
    return {
        "Stage": "dev",
        "DataBucketName": "ml-data-dev",
        "ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-glue@sha256:" + "0" * 64,
    }


GITHUB_COMMIT = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from mlops_glue.adapters.gitops_github import GitHubRepo, token_auth
import github
repo = GitHubRepo("o/r", "main", auth=token_auth("t0ken"), base_url=sys.argv[2], throttle=False)
res = repo.commit_file(sys.argv[3], lambda t: t.replace("version: 1", "version: 2"), "Bump", {"Glue-Version": "2"})
print(json.dumps({"sha": res.sha, "github": github.__file__}))
"""


@pytest.mark.parametrize("logical_id", ["MlflowWebhookFunction", "ArgocdNotificationFunction"])
def test_the_github_backend_commits_from_the_artifact(built: None, logical_id: str, httpserver: Any) -> None:
    """In AWS the GitOps client is PyGithub (the Lambda runtime has no git binary, which the demo's git
    backend uses): one commit through GitHub's contents API from the artifact, against the fake GitHub."""
    import re

    from github_fake import STAGING, TEXT, FakeGitHub

    fake = FakeGitHub(httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake)
    paths = [str(p) for p in build.artifact_paths(logical_id)]
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", GITHUB_COMMIT, json.dumps(paths), fake.base, STAGING],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["github"].startswith(str(build.BUILD_DIR / "GlueLayer" / "python"))
    assert fake.refs["main"] == got["sha"]
    assert fake.files("main")[STAGING] == TEXT.replace("version: 1", "version: 2")
