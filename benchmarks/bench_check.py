"""Foundation benchmark: enrolment and one-photo checks (OIFR), printed as one JSON object.

    python benchmarks/bench_check.py [--enrol 40] [--checks 20] [--sizes 100,1000,10000]

- ms per enrolled image: real lfw-dev photos through ``watchlists.add_person`` (decode, detect,
  align, quality, embed, encrypt, store, audit).
- ms per check against watchlists of N entries: ``check.check_image`` end to end (decode, detect,
  embed every face, load and decrypt the list's vectors, search, audit) and the search alone.
  The N reference vectors are random unit vectors written through the same storage path (real
  photos would give the same timings; enrolling 10,000 photos would take ~15 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared")) / "data" / "lfw-dev"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--enrol", type=int, default=40)
    ap.add_argument("--checks", type=int, default=20)
    ap.add_argument("--sizes", default="100,1000,10000")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="openlfr-bench-")
    os.environ["OPENLFR_DATA_DIR"] = tmp

    from openlfr.services import watchlists
    from openlfr.services.check import check_image
    from openlfr.services.context import AppContext
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.models import ReferenceEmbedding, ReferenceImage, WatchlistEntry

    ctx = AppContext()
    create_key_file(ctx.settings.resolved_key_file)
    from openlfr.storage.db import Database

    Database(ctx.settings.db_url).upgrade()
    people = [d for d in sorted(LFW.iterdir()) if d.is_dir()][: args.enrol]
    watchlists.create(ctx, "enrol", "bench")
    ctx.engine  # load models outside the timing  # noqa: B018
    t0 = time.perf_counter()
    res = watchlists.EnrolResult()
    for d in people:
        res.merge(watchlists.add_person(ctx, "enrol", d.name, [sorted(d.glob("*.jpg"))[0]], "bench"))
    enrol_ms = (time.perf_counter() - t0) * 1000 / max(len(people), 1)

    probes = [sorted(d.glob("*.jpg"))[0] for d in people[: args.checks]]
    out: dict[str, object] = {
        "embedder": ctx.engine.embedder.model_id,
        "detector": ctx.engine.detector.model_id,
        "enrol": {"images": len(people), "accepted": res.accepted, "ms_per_image": round(enrol_ms, 1)},
        "check": {},
    }
    rng = np.random.default_rng(0)
    for n in [int(s) for s in args.sizes.split(",")]:
        name = f"n{n}"
        wl = watchlists.create(ctx, name, "bench")
        vecs = rng.normal(size=(n, ctx.engine.embedder.dim)).astype("<f4")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        family = getattr(ctx.engine.embedder, "family", ctx.engine.embedder.model_id)
        with ctx.db.session() as s:
            from openlfr.services.watchlist_integrity import content_hash, reseal
            from openlfr.storage.models import Watchlist
            from openlfr.storage.sealed import seal

            wl_row = s.get(Watchlist, wl.id)
            wl_row.embedder_family = family  # type: ignore[union-attr]
            for i in range(n):
                e = WatchlistEntry(watchlist_id=wl.id, person_id=f"p{i}", display_name=f"p{i}", added_by="bench")
                img = ReferenceImage(
                    entry=e, image_enc=b"", width=1, height=1, content_sha256=content_hash(b"synthetic reference")
                )
                emb = ReferenceEmbedding(
                    model_family=family,
                    model_id=ctx.engine.embedder.model_id,
                    dim=vecs.shape[1],
                    vector_enc=b"",
                    content_sha256=content_hash(vecs[i].tobytes()),
                )
                img.embeddings.append(emb)
                seal(s, ctx.cipher, img, b"synthetic reference")  # bound to the row, as enrolment does
                seal(s, ctx.cipher, emb, vecs[i].tobytes())
            reseal(s, ctx.cipher, wl_row)  # type: ignore[arg-type]
        times = []
        for p in probes:
            t = time.perf_counter()
            check_image(ctx, p, name, "bench", threshold=0.0, top_k=5)
            times.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        index, _ = watchlists.load_index(ctx, name)
        load_ms = (time.perf_counter() - t) * 1000
        q = vecs[:64] + rng.normal(scale=0.01, size=(64, vecs.shape[1])).astype("<f4")
        t = time.perf_counter()
        for _ in range(5):
            index.search(q, top_k=5)
        search_ms = (time.perf_counter() - t) * 1000 / (5 * len(q))
        out["check"][str(n)] = {  # type: ignore[index]
            "ms_per_check_p50": round(statistics.median(times), 1),
            "ms_per_check_mean": round(statistics.fmean(times), 1),
            "ms_load_index": round(load_ms, 1),
            "ms_search_per_probe": round(search_ms, 3),
        }
    ctx.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
