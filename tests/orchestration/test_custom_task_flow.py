"""A task of the user's own through the pipeline flow: trained, recorded, and re-run when
its label words change (the stage caches key on the spec, not only on the name)."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from flows.pipeline import synprompt_pipeline
from synprompt_core.configs.pipeline import PipelineConfig

ROWS = [
    ("the team won the final match", "sports"),
    ("a late goal decided the game", "sports"),
    ("the senate passed the new law", "politics"),
    ("voters chose a new president", "politics"),
    ("the cell divides under the microscope", "science"),
    ("physicists measured the particle", "science"),
]


def topic_config(tmp_path, model, verbalizers=("game", "law", "cell")) -> PipelineConfig:
    real = pd.DataFrame(ROWS, columns=["text", "topic"])
    real.to_csv(tmp_path / "real.csv", index=False)
    synthetic = real.assign(text=real["text"] + " indeed")
    synthetic.to_json(tmp_path / "synthetic.jsonl", orient="records", lines=True)
    source = {"text_a": "text", "label": "topic"}
    return PipelineConfig.model_validate(
        {
            "name": "topics",
            "data": {
                "task": "news-topics",
                "task_spec": {
                    "labels": ["sports", "politics", "science"],
                    "verbalizers": list(verbalizers),
                    "template": "{text_a} Topic : {mask} .",
                    "label_sentence": "This is about {word} .",
                },
                "train": {"format": "csv", "path": str(tmp_path / "real.csv"), **source},
                "test": {"format": "csv", "path": str(tmp_path / "real.csv"), **source},
                "synthetic": {
                    "format": "jsonl",
                    "path": str(tmp_path / "synthetic.jsonl"),
                    **source,
                },
            },
            "backbone": {"kind": "sentence", "model": str(model)},
            "prompt_tuning": {"max_steps": 2, "eval_every": 2, "batch_size": 3},
            "tracking": {"experiment": "topics", "output_dir": str(tmp_path / "out")},
        }
    )


def test_own_task_trains_and_new_label_words_retrain(prefect_server, tiny_encoder, tmp_path):
    first = synprompt_pipeline(topic_config(tmp_path, tiny_encoder))
    assert 0 <= first["test_accuracy"] <= 100 and not first["cached"]
    client = MlflowClient(first["tracking_uri"])
    params = client.get_run(first["run_id"]).data.params
    assert params["data.task"] == "news-topics"
    assert params["data.task_spec.verbalizers"] == "['game', 'law', 'cell']"

    reworded = topic_config(tmp_path, tiny_encoder, verbalizers=("sport", "vote", "atom"))
    second = synprompt_pipeline(reworded)
    parent = client.get_run(second["run_id"])
    kids = f"tags.mlflow.parentRunId = '{second['run_id']}'"
    (child,) = client.search_runs([parent.info.experiment_id], kids)
    assert not second["cached"] and child.data.tags["cached"] == "false"
