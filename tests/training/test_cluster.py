"""``annotate --cluster``: the same dataset as a local run, on a real 2-worker Dask cluster on
127.0.0.1 (separate worker processes), with the same skips and failure report; workers load the
model once each and refuse to work with another model than the client's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.cli import main as cli
from training.annotate import DATASET_CSV, FAILURES_CSV, RECORDS_FILE, annotate
from training.artifacts import load_model, read_active
from training.cluster import ClusterError, check_workers, model_identity

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
MATERIAL = ROOT / "examples" / "batch" / "materiaal"
MANIFEST = ROOT / "examples" / "batch" / "manifest.csv"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture
def material(tmp_path) -> Path:
    """The example folder plus what the batch forgives: a file name with a listed name in it, a
    .jsonl with a bad line, a Windows-1252 transcript."""
    folder = tmp_path / "materiaal"
    shutil.copytree(MATERIAL, folder)
    (folder / "bram.txt").write_text("I: Hoe ging het, Bram?\nBram: Goed, ik voel veel ruimte in mijn lessen.\n",
                                     encoding="utf-8")
    lines = [json.dumps({"id": "L2-a", "text": "Ik heb veel ruimte gekregen van de schoolleiding."}),
             '{"id": "L2-b", "text": "afgebroken',
             json.dumps({"id": "L2-c", "text": "Er is geen tijd, alles gaat 's avonds."})]
    (folder / "L2_start.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "L4_eind.txt").write_bytes("I: Hoe ging het?\nL4: Heel goed \u2013 veel ideeën.\n".encode("cp1252"))
    return folder


def _file_results(outdir: Path) -> dict[str, dict]:
    results = {}
    for path in sorted((outdir / "files").glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        result.pop("annotated_at")
        results[path.name] = result
    return results


def _inside(paths: list[Path], outdir: Path) -> list[str]:
    return sorted(p.relative_to(outdir).as_posix() for p in paths if outdir in p.parents)


def test_the_cluster_run_gives_the_local_run_s_outputs(tmp_path, material, trained_models_dir, cluster):
    local = annotate([material], tmp_path / "local", models_dir=trained_models_dir, manifest=MANIFEST, workers=1)
    remote = annotate([material], tmp_path / "cluster", models_dir=trained_models_dir, manifest=MANIFEST,
                      cluster=cluster.scheduler_address)

    assert sorted(remote.annotated) == sorted(local.annotated) and "L5.txt" in remote.annotated
    assert remote.failed == local.failed
    assert [rel for rel, _ in remote.failed] == ["kapot.docx"]  # the broken file, with the same reason
    assert remote.bad_lines == local.bad_lines == [("L2_start.jsonl", 2, local.bad_lines[0][2])]
    assert remote.notices == local.notices and any("Windows-1252" in n for n in remote.notices)
    assert remote.renamed == local.renamed == {"L5.txt": "bram.txt"}
    assert remote.exit_code == local.exit_code == 1
    assert remote.n_segments == local.n_segments > 0
    for name in (DATASET_CSV, RECORDS_FILE, FAILURES_CSV):
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert "line" in (tmp_path / "cluster" / FAILURES_CSV).read_text(encoding="utf-8").splitlines()[0]
    assert _file_results(tmp_path / "cluster") == _file_results(tmp_path / "local")
    assert remote.pseudonym_key.read_bytes() == local.pseudonym_key.read_bytes()
    assert remote.pseudonym_key.parent == tmp_path  # next to the output folder, not in it
    # The same files written (the key's name follows its output folder's).
    assert remote.pseudonym_key in remote.written and local.pseudonym_key in local.written
    assert _inside(remote.written, tmp_path / "cluster") == _inside(local.written, tmp_path / "local")
    # Both workers took part, and each loaded the model exactly once for all its files.
    assert len(remote.worker_model_loads) == 2
    assert set(remote.worker_model_loads.values()) == {1}

    # A rerun skips every unchanged file (nothing is sent to the workers) and still reports the
    # broken file and the bad line.
    again = annotate([material], tmp_path / "cluster", models_dir=trained_models_dir, manifest=MANIFEST,
                     cluster=cluster.scheduler_address)
    assert again.annotated == [] and sorted(again.skipped) == sorted(local.annotated)
    assert again.failed == local.failed and again.bad_lines == local.bad_lines
    assert set(again.worker_model_loads.values()) == {1}  # the workers kept their model between runs


def test_the_cli_runs_on_the_cluster_with_the_local_exit_code(tmp_path, trained_models_dir, cluster, capsys):
    code = cli(["annotate", str(MATERIAL), "--manifest", str(MANIFEST), "-o", str(tmp_path / "out"),
                "--models-dir", str(trained_models_dir), "--cluster", cluster.scheduler_address, "--no-progress"])
    out = capsys.readouterr()
    assert code == 1  # one file is broken on purpose, as in a local run
    assert "2 workers" in out.out and "kapot.docx" in out.err


def test_a_worker_with_another_model_stops_the_run_clearly(tmp_path, trained_models_dir, cluster):
    loaded = load_model(trained_models_dir, read_active(trained_models_dir))
    expected = model_identity(loaded)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        assert set(check_workers(client, str(trained_models_dir), expected)) == set(client.nthreads())
        # The client's model file differs from the workers' (same version name, other weights).
        other = {**expected, "model_sha256": "0" * 64}
        with pytest.raises(ClusterError, match="niet elke worker heeft hetzelfde model") as info:
            check_workers(client, str(trained_models_dir), other)
        assert "model_sha256" in str(info.value) and str(info.value).count("tcp://127.0.0.1") == 2
        # A worker that cannot find the version at all.
        with pytest.raises(ClusterError, match="kan model .* niet laden"):
            check_workers(client, str(tmp_path / "no-store"), expected)


def test_an_unreachable_scheduler_is_a_clear_usage_error(tmp_path, trained_models_dir, capsys, monkeypatch):
    monkeypatch.setattr("training.cluster.CONNECT_TIMEOUT_SECONDS", 2)
    code = cli(["annotate", str(MATERIAL), "-o", str(tmp_path / "out"), "--models-dir", str(trained_models_dir),
                "--cluster", "tcp://127.0.0.1:9", "--no-progress"])
    assert code == 2
    assert "niet bereikbaar" in capsys.readouterr().err
