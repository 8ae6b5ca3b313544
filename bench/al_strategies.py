"""Which ranking score picks the 150 sentences that help most after the first 50 (issue 12).

    python bench/al_strategies.py --seeds 13,1,2 --strategies tte,entropy,tte_sqrt,tte_mix,tte_cluster

Per seed, once: a project on the whole CoNLL training pool as bench/learning_curve.py builds it,
the first 50 sentences corrected and a retrain (``worker.run_job``, the seed as training seed);
then one pass of the worker's quantized tagger over the waiting pool keeps, per sentence, the
marginal of the chosen tag and the tag entropy of each word. Per strategy and seed: a copy of
that database, the 150 sentences the strategy picks corrected with their gold spans, a retrain
warm-started from the 50-sentence version, exactly as the worker runs it; its dev F1 (the
project's dev split), words and seconds are appended to ``bench/results/al_strategies.jsonl``.
Every strategy but the ``random`` ones reorders its 2,000 best with ``services.loop.diverse_order``
as the worker does. Resumable: a (strategy, seed) already in the JSONL is skipped.

Strategies: ``mnlp`` (the length-normalised uncertainty), ``tte`` (expected token errors: the sum
over words of 1 - the chosen tag's marginal), ``entropy`` (the sum of the words' tag entropies),
``nll`` (the sum of -log p), a suffix ``_sqrt`` divides by the square root of the word count,
``_mix`` takes half the 150 by the score and half at random, ``_sample`` draws in proportion to
the score, ``_cluster`` takes the best of each of 150 k-means clusters of the base model's
mean-pooled sentence vectors; ``random150`` draws all 150 at random. The figures of the run that
chose the queue's score (seeds 13, 1, 2; mnlp from bench/results/learning_curve_protocols.json's
earlier run, the same 50-sentence versions) are in bench/results/al_strategies.jsonl; the worker
ranks by ``tte`` with every other place a random draw (``services.loop``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.learning_curve import DATA, _correct, _project, _read, _retrain  # noqa: E402

WORK = Path("/tmp/al-strategies")
FIRST, PICK = 50, 150


def base_state(pool, dev, seed: int) -> dict:
    """The seed's 50-sentence project and version (cached), and the per-word stats of the pool."""
    import numpy as np

    home = WORK / f"seed-{seed}"
    state_file = home / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
    else:
        from services import Services

        home.mkdir(parents=True, exist_ok=True)
        os.environ["SEQLAB_HOME"] = str(home)
        svc = Services(f"sqlite:///{home}/seqlab.db")
        project = _project(svc, pool, dev)
        svc.update_project(project.id, queue_order="file")
        gold = {e.text: e.spans for e in pool}
        _correct(svc, project.id, gold, FIRST, 0)
        row = _retrain(svc, project.id, "active", home, None, seed=seed)
        version = next(v for v in svc.versions(project.id) if v.active)
        svc.close()
        state = {"project": project.id, "version_path": version.path, "row50": row}
        state_file.write_text(json.dumps(state))
    stats = home / "stats.npz"
    if not stats.exists():
        t0 = time.perf_counter()
        ids, texts, chosen, entropy = capture(home, state)
        np.savez(stats, ids=np.array(ids), texts=np.array(texts, dtype=object),
                 chosen=np.array(chosen, dtype=object), entropy=np.array(entropy, dtype=object))
        state["capture_s"] = round(time.perf_counter() - t0, 1)
        state_file.write_text(json.dumps(state))
    return state


def capture(home: Path, state: dict):
    """Per waiting document: its id, text, and per word the chosen tag's marginal and the entropy."""
    import numpy as np
    from sqlalchemy import create_engine, text as sql

    import tagger.predict as predict
    from tagger.predict import Tagger

    engine = create_engine(f"sqlite:///{home}/seqlab.db")
    with engine.connect() as c:
        rows = c.execute(sql("select id, text from documents where project_id = :p and status in ('new', 'predicted') "
                             "order by id"), {"p": state["project"]}).all()
    engine.dispose()
    original = predict._prediction

    def keep(encoded, tags, probs, tag_names, spans):
        p = original(encoded, tags, probs, tag_names, spans)
        index = {t: i for i, t in enumerate(tag_names)}
        heads = [k for k, w in enumerate(encoded.words) if k == 0 or encoded.words[k - 1] != w]
        chosen = probs[heads, [index[tags[k]] for k in heads]].astype("float32")
        q = np.clip(probs[heads], 1e-9, 1.0)
        ent = -(q * np.log(q)).sum(-1).astype("float32")
        return (p, chosen, ent)

    predict._prediction = keep
    try:
        tagger = Tagger.load(state["version_path"], quantize=True)
        out = []
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            out.extend(tagger.analyse([t for _, t in chunk]))
    finally:
        predict._prediction = original
    return ([r[0] for r in rows], [r[1] for r in rows], [o[1] if isinstance(o, tuple) else np.zeros(0) for o in out],
            [o[2] if isinstance(o, tuple) else np.zeros(0) for o in out])


def picks(strategy: str, stats, seed: int) -> list[int]:
    """Positions (in the stats arrays) of the PICK documents the strategy sends for correction."""
    import random

    import numpy as np

    from services.loop import diverse_order

    chosen, entropy, texts = stats["chosen"], stats["entropy"], stats["texts"]
    n = len(texts)
    err = np.array([float((1 - c).sum()) for c in chosen])
    length = np.array([max(1, len(c)) for c in chosen])
    mnlp = np.array([1 - float(np.exp(np.log(np.clip(c, 1e-9, 1)).mean())) if len(c) else 0.0 for c in chosen])
    nll = np.array([float(-np.log(np.clip(c, 1e-9, 1)).sum()) for c in chosen])
    ent = np.array([float(e.sum()) for e in entropy])
    if strategy == "random150":
        order = list(range(n))
        random.Random(seed).shuffle(order)
        return order[:PICK]
    base = strategy.split("_")[0]
    score = {"tte": err, "entropy": ent, "nll": nll, "mnlp": mnlp}[base]
    if strategy.endswith("_sqrt"):
        score = score / np.sqrt(length)
    if strategy.endswith("_cluster"):
        return cluster_picks(score, seed)
    top = np.argsort(-score, kind="stable")[:2000]
    order = [int(top[i]) for i in diverse_order([(float(score[j]), str(texts[j])) for j in top])]
    if strategy.endswith("_mix"):
        half = PICK // 2
        first = order[:half]
        rest = [i for i in range(n) if i not in set(first)]
        random.Random(seed).shuffle(rest)
        return first + rest[: PICK - half]
    if strategy.endswith("_sample"):
        rng = np.random.default_rng(seed)
        p = score / score.sum()
        return [int(i) for i in rng.choice(n, size=PICK, replace=False, p=p)]
    return order[:PICK]


def cluster_picks(score, seed: int) -> list[int]:
    """k-means (k = PICK) over the base model's mean-pooled sentence vectors; the top score per cluster."""
    import numpy as np
    from sklearn.cluster import MiniBatchKMeans

    vectors = np.load(WORK / "vectors.npy")
    labels = MiniBatchKMeans(n_clusters=PICK, random_state=seed, n_init=3, batch_size=2048).fit_predict(vectors)
    best: dict[int, int] = {}
    for i, c in enumerate(labels):
        if c not in best or score[i] > score[best[c]]:
            best[c] = i
    return sorted(best.values(), key=lambda i: -score[i])


def vectors(texts) -> None:
    """Mean-pooled base-model vectors of the pool's texts (the same for every seed)."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tagger.store import resolve_base_model

    path = WORK / "vectors.npy"
    if path.exists():
        return
    folder = resolve_base_model("default")
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), 128):
            batch = tok(list(texts[start : start + 128]), padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            v = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
    np.save(path, np.concatenate(out))


def run_strategy(strategy: str, seed: int, state: dict, stats, gold: dict) -> dict:
    from services import Services

    seed_home = WORK / f"seed-{seed}"
    home = seed_home / f"run-{strategy}"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    home.mkdir(parents=True)
    src, dst = sqlite3.connect(seed_home / "seqlab.db"), sqlite3.connect(home / "seqlab.db")
    src.backup(dst)
    src.close()
    dst.close()
    chosen = picks(strategy, stats, seed)
    os.environ["SEQLAB_HOME"] = str(home)
    svc = Services(f"sqlite:///{home}/seqlab.db")
    try:
        for i in chosen:
            svc.save_correction(int(stats["ids"][i]), gold[str(stats["texts"][i])], annotator="bench")
        row = _retrain(svc, state["project"], "active", home, None, seed=seed)
    finally:
        svc.close()
    picked_words = sum(len(str(stats["texts"][i]).split()) for i in chosen)
    picked_spans = sum(len(gold[str(stats["texts"][i])]) for i in chosen)
    return {"strategy": strategy, "seed": seed, "dev_f1": row["dev_f1"], "train_words": row["train_words"],
            "picked_words": picked_words, "picked_spans": picked_spans, "train_spans": row["train_spans"],
            "total_s": row["total_s"], "epochs": row["epochs"], "steps": row["steps"],
            "loadavg_1m": row["loadavg_1m"], "f1_50": state["row50"]["dev_f1"]}


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="13,1,2")
    parser.add_argument("--strategies", default="tte,entropy,tte_sqrt,tte_mix,tte_cluster")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "al_strategies.jsonl"))
    args = parser.parse_args()
    import worker

    worker.setup_threads()
    pool, dev, _ = _read(str(DATA / "train.txt"), str(DATA / "dev.txt"), 10**9, 0)
    gold = {e.text: e.spans for e in pool}
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["strategy"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}
    for seed in (int(s) for s in args.seeds.split(",")):
        state = base_state(pool, dev, seed)
        stats = dict(np.load(WORK / f"seed-{seed}" / "stats.npz", allow_pickle=True))
        print(f"seed {seed}: 50 -> dev F1 {state['row50']['dev_f1']:.4f}; capture {state.get('capture_s')} s",
              flush=True)
        for strategy in args.strategies.split(","):
            if (strategy, seed) in done:
                continue
            if strategy.endswith("_cluster"):
                vectors(stats["texts"])
            result = run_strategy(strategy, seed, state, stats, gold)
            print(json.dumps(result), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
