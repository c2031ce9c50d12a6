"""Enrolment consistency warning on genuine pairs: how often "may not show the same person" fires for
photos that do show one person. Printed as one JSON object.

    python benchmarks/bench_enrol_consistency.py [--images DIR] [--limit N]

Every identity of ``--images`` (default lfw-dev) with two or more photos is enrolled through the console's
code path (``watchlists.add_person``: decode, detect, quality gate, embed, encrypt, store) into a temporary
data dir, then ``enrol_checks.consistency`` (the rule the console applies after an upload) scores every
pair of each entry's accepted photos. Reported: the genuine-pair warning rate (pairs below the
consistency threshold / all pairs), the share of entries that would show a warning, and the same per
identity (each identity weighted once: lfw-dev's pairs are dominated by a few people with many photos).
Photos the enrolment rejects (no face, quality gate) take no part, as in the console.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared")) / "data" / "lfw-dev"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, default=LFW)
    ap.add_argument("--limit", type=int, default=None, help="only the first N identities (with >= 2 photos)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="openlfr-consistency-")
    os.environ["OPENLFR_DATA_DIR"] = tmp

    from openlfr.services import enrol_checks, watchlists
    from openlfr.services.context import AppContext
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database

    ctx = AppContext()
    create_key_file(ctx.settings.resolved_key_file)
    Database(ctx.settings.db_url).upgrade()
    people = [
        d
        for d in sorted(args.images.iterdir())
        if d.is_dir() and sum(1 for f in d.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")) >= 2
    ]
    if args.limit:
        people = people[: args.limit]
    watchlists.create(ctx, "genuine", "bench")
    rule = enrol_checks.consistency_threshold(ctx)
    t0 = time.perf_counter()
    pairs = warned_pairs = entries = warned_entries = accepted = rejected = 0
    per_identity: list[float] = []
    for d in people:
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        res = watchlists.add_person(ctx, "genuine", d.name, files, "bench")
        accepted += res.accepted
        rejected += len(res.rejected)
        if res.accepted < 2:
            continue
        c = enrol_checks.consistency(ctx, "genuine", d.name, by_person_id=True)
        n = c.photos * (c.photos - 1) // 2
        pairs += n
        warned_pairs += len(c.pairs_below)
        entries += 1
        warned_entries += bool(c.warning)
        per_identity.append(len(c.pairs_below) / n)
    out = {
        "images": str(args.images),
        "embedder": ctx.engine.embedder.model_id,
        "detector": ctx.engine.detector.model_id,
        "identities": len(people),
        "photos_accepted": accepted,
        "photos_rejected": rejected,
        "consistency_threshold": rule.threshold,
        "calibration_genuine_frr": round(rule.genuine_frr, 5),
        "genuine_pairs": pairs,
        "warned_pairs": warned_pairs,
        "genuine_pair_warning_rate": round(warned_pairs / max(pairs, 1), 5),
        "entries_with_2plus_photos": entries,
        "entries_warned": warned_entries,
        "entry_warning_rate": round(warned_entries / max(entries, 1), 5),
        "per_identity_mean_pair_warning_rate": round(sum(per_identity) / max(len(per_identity), 1), 5),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
