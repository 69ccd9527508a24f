"""Give the bundled models (the quick recipe, all sources) their training record, validation
curve and a calibrated few-shot gallery, without changing their weights, temperature or
threshold. Run once from the repository root (train extra installed):

    python docs/annotate_bundled_model.py _default _fast
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from logobrand.inference import LogoClassifier
from logobrand.inference.config import ModelConfig, curve_record, trained_on_record
from logobrand.inference.prediction import NO_LOGO, softmax
from logobrand.metrics import precision_recall_curve_logo
from logobrand.training.recipe import shared_data_splits

root = Path("../shared/data")
splits = shared_data_splits(root, seed=0, train_on_all_sources=True)
val = splits.val.samples
paths = [s.path for s in splits.train.samples] + [s.path for s in val]
record = trained_on_record(paths)
gallery_photos = [str(s.path) for i, s in enumerate(val) if i % 3 == 0]
print(len(paths), len(val), len(gallery_photos))
for name in sys.argv[1:]:
    bundled = Path("logobrand") / name
    work = Path(tempfile.mkdtemp()) / name
    shutil.copytree(bundled, work)
    clf = LogoClassifier.from_pretrained(work)
    labels = list(clf.labels)
    rows, targets = [], []
    for start in range(0, len(val), 32):
        chunk = val[start : start + 32]
        rows.append(clf.predict_logits(np.stack([clf.preprocess(s.path) for s in chunk])))
        targets += [labels.index(s.label) for s in chunk]
    probs = softmax(np.concatenate(rows), clf.config.temperature)  # its own temperature
    cols = [i for i, label in enumerate(labels) if label != NO_LOGO]
    best = np.asarray(cols)[probs[:, cols].argmax(1)]
    curve = precision_recall_curve_logo(
        [labels[t] for t in targets], [labels[b] for b in best], probs[np.arange(len(probs)), best]
    )
    clf.calibrate_gallery(gallery_photos)
    clf.save_pretrained(work)
    config = json.loads((work / "config.json").read_text())
    config["training"]["validation_curve"] = curve_record(
        curve.thresholds.tolist(), curve.precision.tolist(), curve.recall.tolist()
    )
    config["training"]["trained_on"] = record
    ModelConfig.from_dict(config).save(work)
    for f in ("config.json", "gallery.json", "gallery.npz"):
        shutil.copyfile(work / f, bundled / f)
    print(name, LogoClassifier.from_pretrained(bundled).gallery.calibrated, clf.config.threshold)
