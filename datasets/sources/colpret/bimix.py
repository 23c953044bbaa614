"""BiMix data-mixing (pickled losses and domain ratios, checked before unpickling).
"""
from __future__ import annotations

import numpy as np

from datasets.sources._common import numeric
from datasets.sources.colpret.common import BIMIX_TOKENS_PER_STEP, Ingest, PAPERS, melt, read_safe_pickle, slug


def read_bimix(ing: Ingest) -> None:
    for corpus in ("Pile", "SlimPajama"):
        pfile = f"raw_data/bimix-law/{corpus}/ppls.pkl"
        rfile = f"raw_data/bimix-law/{corpus}/ratios.pkl"
        losses = read_safe_pickle(ing.folder / pfile, pfile)
        ratios = read_safe_pickle(ing.folder / rfile, rfile)
        ing.count(pfile, sum(len(v) for v in losses.values()))
        ing.count(rfile, sum(len(v) for v in ratios.values()))
        for method in sorted(losses):
            table = losses[method]
            run_id = f"colpret/bimix/{corpus}-{method}"
            frame = table.drop(columns=["global_step"]).astype("float64")
            frame["run_id"] = run_id
            frame["step"] = numeric(table["global_step"], pfile, "global_step")
            frame["tokens"] = frame["step"] * BIMIX_TOKENS_PER_STEP
            frame["flops"] = np.nan
            domains = [c for c in table.columns if c not in ("global_step", "avg")]
            specs = [(d, f"{slug(d)}/ce", "validation", "nats", 1.0) for d in domains]
            specs.append(("avg", "val_loss", "validation", "nats", 1.0))
            ing.add(melt(frame, specs), pfile)
            weights = {str(k): float(v) for k, v in ratios[method].items()}
            ing.run(run_id=run_id, collection="bimix", family=f"colpret/bimix-{corpus.lower()}",
                    model=f"{corpus} {method} mixture", arch="dec", params=280e6,
                    data=corpus, paper=PAPERS["bimix"], file=pfile,
                    licence="Apache-2.0 (raw_data/bimix-law/LICENSE)",
                    notes="per-domain validation log-loss in nats (the file is named ppls but holds "
                          "losses); val_loss = unweighted mean over domains ('avg'); "
                          "D = global_step x 524,288; N = 280M (ColPret; not in the files); C = 6ND",
                    extra={"mixture_method": method, "domain_weights": weights})
        ing.exclude(pfile, "pickle", "converted",
                    "opcodes checked with pickletools (numpy/pandas globals only) before "
                    "pandas.read_pickle; values are log-losses in nats despite the name; "
                    "D = global_step x 524,288", sum(len(v) for v in losses.values()))
        ing.exclude(rfile, "domain weights", "converted", "stored in runs.extra.domain_weights",
                    sum(len(v) for v in ratios.values()))
