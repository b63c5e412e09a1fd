"""Reads one FLOps project back from MLflow with the official client; prints JSON on stdout.

Usage: python mlflow-readback.py <tracking-url> <experiment-name> <registered-model-name> <download-dir>
"""
import hashlib
import json
import os
import sys

from mlflow.tracking import MlflowClient

url, experiment_name, model_name, download_dir = sys.argv[1:5]
client = MlflowClient(tracking_uri=url, registry_uri=url)

experiment = client.get_experiment_by_name(experiment_name)
runs = client.search_runs([experiment.experiment_id])
out = {"experiment": {"id": experiment.experiment_id, "name": experiment.name}, "runs": []}
for run in runs:
    metrics = {}
    for key in run.data.metrics:
        history = client.get_metric_history(run.info.run_id, key)
        metrics[key] = sorted(([m.step, m.value] for m in history), key=lambda sv: sv[0])
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "model")]
    local = client.download_artifacts(run.info.run_id, "model", download_dir)
    files = {}
    for name in sorted(os.listdir(local)):
        with open(os.path.join(local, name), "rb") as f:
            files[name] = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    out["runs"].append({
        "id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "startTime": run.info.start_time,
        "endTime": run.info.end_time,
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "metrics": metrics,
        "artifacts": artifacts,
        "downloaded": files,
    })
versions = client.search_model_versions(f"name='{model_name}'")
out["modelVersions"] = [
    {"name": v.name, "version": v.version, "runId": v.run_id, "source": v.source, "status": v.status} for v in versions
]
print(json.dumps(out))
