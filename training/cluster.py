"""``codeerhulp annotate --cluster tcp://HOST:8786``: the per-file work on a Dask distributed cluster.

The client (the machine that runs ``annotate``) decides what to do, exactly as in a local run: it
reads the state file, skips unchanged files, and writes every result, the state, ``failures.csv``
and the dataset. Each file to do goes to a worker as its bytes (workers need not see the client's
folders) with its metadata; the worker reads, pseudonymises and segments it and suggests its
segments (:func:`training.batch.prepare_file` and :func:`training.annotate.annotate_records`, the
same functions a local run uses), and sends back the prepared file and its records.

Workers load the model once per worker process, from their own model store: the environment
variable ``CODEERHULP_MODELS_DIR`` on the worker, else the same path as on the client. Before any
file is sent, every worker reports what it loaded (version, codebook version, SHA-256 of the model
file, encoder); a worker that differs from the client stops the run with an error naming the
worker, and so does a worker that joins later with another model. Nothing else is fetched: the
workers need Codeerhulp with the extra ``cluster`` installed (the same release as the client).

Needs ``dask.distributed`` (``pip install 'codeerhulp[cluster]'``). Interview data travel between
the client, the scheduler and the workers unencrypted unless the cluster is set up with TLS: run it
on machines of the institution's own network only.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .batch import PreparedFile, prepare_file, read_input
from .messages import in_dutch
from .metadata import FileMeta
from .segmenting import InputError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 20
WORKERS_TIMEOUT_SECONDS = 60
IN_FLIGHT_PER_WORKER = 4  # files sent ahead per worker: workers stay busy, the client's memory flat


class ClusterError(RuntimeError):
    """The run cannot use the cluster (unreachable, no workers, another model on a worker)."""


class ModelMismatch(RuntimeError):
    """A worker holds another model than the client; raised on the worker, reported by the client."""


# ------------------------------------------------------------------------------ on the worker

# This worker process's model, loaded by the first file it gets, with the number of loads (a
# worker must load once, however many files it does).
_WORKER_MODEL: dict[str, Any] = {}
_WORKER_LOADS = [0]


def model_identity(loaded: Any) -> dict[str, str]:
    """What must be equal on the client and every worker for their suggestions to be the same."""
    return {
        "version": loaded.version,
        "codebook_version": str(loaded.codebook_version),
        "model_sha256": loaded.manifest.get("files", {}).get("model.skops", ""),
        "encoder": loaded.model.encoder_.name if loaded.model.encoder_ is not None else "none",
    }


def worker_models_dir(client_models_dir: str) -> str:
    return os.environ.get("CODEERHULP_MODELS_DIR") or client_models_dir


def _worker_model(client_models_dir: str, expected: dict[str, str]) -> Any:
    """The model of this worker process, loaded once; ModelMismatch when it is not the client's."""
    from .artifacts import ArtifactError, load_model

    key = f"{worker_models_dir(client_models_dir)}|{expected['version']}"
    loaded = _WORKER_MODEL.get(key)
    where = f"worker {socket.gethostname()} (pid {os.getpid()})"
    if loaded is None:
        models_dir = worker_models_dir(client_models_dir)
        try:
            loaded = load_model(models_dir, expected["version"])
        except ArtifactError as exc:
            raise ModelMismatch(f"{where} kan model {expected['version']} niet laden uit {models_dir}: {exc}") from None
        _WORKER_MODEL.clear()  # one model per worker: a new run with another version replaces it
        _WORKER_MODEL[key] = loaded
        _WORKER_LOADS[0] += 1
    found = model_identity(loaded)
    if found != expected:
        differs = ", ".join(f"{k} {found[k]} in plaats van {expected[k]}" for k in expected if found.get(k) != expected[k])
        raise ModelMismatch(f"{where} heeft een ander model dan deze computer: {differs}")
    return loaded


def worker_check(client_models_dir: str, expected: dict[str, str]) -> dict:
    """Run on every worker before the files: load (once) and compare; never raises."""
    try:
        _worker_model(client_models_dir, expected)
        return {"ok": True, "loads": _WORKER_LOADS[0]}
    except ModelMismatch as exc:
        return {"ok": False, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the client as this worker's problem
        return {"ok": False, "reason": f"worker {socket.gethostname()}: {type(exc).__name__}: {exc}"}


def annotate_remote(raw: bytes, relpath: str, meta: FileMeta, name_map: dict[str, str], max_bytes: int,
                    max_segment_chars: int, min_confidence: float | None, client_models_dir: str,
                    expected: dict[str, str]) -> tuple[PreparedFile, list[dict], str, int]:
    """One file's work on a worker: (prepared file, records, the worker's address, its model loads so far)."""
    from distributed import get_worker

    from .annotate import annotate_records

    prepared = prepare_file(Path(relpath), relpath, meta, name_map, max_bytes, max_segment_chars, raw=raw)
    loaded = _worker_model(client_models_dir, expected)
    records = annotate_records(prepared, loaded, min_confidence)
    return prepared, records, get_worker().address, _WORKER_LOADS[0]


# ------------------------------------------------------------------------------ on the client


def connect(address: str):
    """A distributed Client on the scheduler at ``address``, with at least one worker."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("--cluster heeft dask.distributed nodig: pip install 'codeerhulp[cluster]'") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"de scheduler op {address} is niet bereikbaar ({exc}); start hem met "
                           "'dask scheduler' en controleer adres en poort") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_SECONDS)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterError(f"de scheduler op {address} heeft na {WORKERS_TIMEOUT_SECONDS} s nog geen workers; "
                           f"start er een met 'dask worker {address}'") from None
    return client


def check_workers(client, models_dir: str, expected: dict[str, str]) -> dict[str, int]:
    """Every worker loads the model and compares it with the client's; worker -> model loads."""
    answers = client.run(worker_check, models_dir, expected)
    wrong = [f"{address}: {answer['reason']}" for address, answer in sorted(answers.items()) if not answer["ok"]]
    if wrong:
        raise ClusterError("niet elke worker heeft hetzelfde model als deze computer (model "
                           f"{expected['version']}, codeboek {expected['codebook_version']}); installeer dezelfde "
                           "modelversie op elke worker:\n  " + "\n  ".join(wrong))
    return {address: answer["loads"] for address, answer in answers.items()}


def annotate_on_cluster(address: str, todo: list[tuple[Path, str, FileMeta]], name_map: dict[str, str],
                        loaded: Any, models_dir: str | Path, min_confidence: float | None, max_bytes: int,
                        max_segment_chars: int, result: Any
                        ) -> Iterator[tuple[str, PreparedFile | None, list[dict] | None, str | None]]:
    """Yield (relpath, prepared, records, error) as the workers finish files, like a local run.

    ``result.worker_model_loads`` is filled in with each worker's number of model loads."""
    from distributed import as_completed

    from .annotate import unexpected_failure

    client = connect(address)
    try:
        models_dir = str(Path(models_dir).resolve())
        expected = model_identity(loaded)
        result.worker_model_loads.update(check_workers(client, models_dir, expected))
        if not todo:
            return
        window = max(1, sum(client.nthreads().values())) * IN_FLIGHT_PER_WORKER
        queue = list(reversed(todo))
        running = as_completed(loop=client.loop)
        owner: dict[Any, str] = {}  # future -> relpath

        def send() -> None:
            while queue and running.count() < window:
                path, rel, meta = queue.pop()
                try:
                    raw = read_input(path, rel, max_bytes)
                except InputError as exc:
                    # Unreadable here: reported like a worker's failure, in order, without a round trip.
                    failed.append((rel, in_dutch(exc)))
                    continue
                future = client.submit(annotate_remote, raw, rel, meta, name_map, max_bytes, max_segment_chars,
                                       min_confidence, models_dir, expected, pure=False)
                owner[future] = rel
                running.add(future)

        failed: list[tuple[str, str]] = []
        send()
        while True:
            while failed:
                rel, reason = failed.pop(0)
                yield rel, None, None, reason
            if running.is_empty():
                if not queue:
                    break
                send()
                continue
            future = next(running)
            rel = owner.pop(future)
            try:
                prepared, records, worker, loads = future.result()
            except InputError as exc:
                yield rel, None, None, in_dutch(exc)
            except ModelMismatch as exc:  # a worker that joined after the check, with another model
                raise ClusterError(f"{exc}; installeer dezelfde modelversie op elke worker") from None
            except Exception as exc:  # noqa: BLE001 - a crashed worker costs the file, not the run
                log.debug("cluster task of %s failed", rel, exc_info=True)
                yield rel, None, None, unexpected_failure(rel, exc, " op het cluster")
            else:
                result.worker_model_loads[worker] = loads
                yield rel, prepared, records, None
            finally:
                future.release()
            send()
    finally:
        client.close()
