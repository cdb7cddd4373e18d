"""``synprompt`` command line: validate a config, run the pipeline.

Heavy imports (torch models, prefect, mlflow) happen only after the config and the data
have been validated, so bad input fails in seconds with one message.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from flows.runtime import apply_defaults

ConfigArg = Annotated[Path, typer.Argument(help="Pipeline config (YAML)")]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a field: KEY.PATH=VALUE (repeatable)")
]
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback's locals may hold keys and configs
    help="synprompt: few-shot soft-prompt tuning boosted by synthetic data (Prefect + MLflow).",
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


BAD_INPUT = (ValueError, OSError)  # ConfigError and DataError are ValueErrors


def _load_and_check(path: Path, overrides: list[str] | None):
    """Config + every input table, validated; exits 2 with one message on bad input."""
    from synprompt_core.configs.pipeline import load_config
    from tasks.preflight import check_inputs

    parsed = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--set expects KEY=VALUE, got {item!r}")
        parsed[key] = _override_value(value)
    try:
        config = load_config(path, overrides=parsed)
        summary = check_inputs(config)
    except BAD_INPUT as err:
        _fail(str(err))
    return config, summary


def _override_value(text: str):
    """A ``--set`` value: YAML for lists, mappings and null; otherwise the text itself, which
    the config's types then read (``"10"`` -> 10 for a step count, ``"no"`` -> False for a
    switch), so ``tracking.experiment=2024`` or ``name=0123`` stay the strings typed."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if value is None or isinstance(value, list | dict) else text


def _load_and_check_ablation(path: Path):
    """An ablation file + the input tables of every distinct grid cell; exits 2 if bad."""
    from synprompt_core.configs.ablation import load_ablation
    from tasks.preflight import check_inputs

    try:
        config = load_ablation(path)
        cells, summary, seen = config.expand(), [], set()
        for cell in cells:
            if cell.data in seen:  # variants of one task and seed read the same tables
                continue
            seen.add(cell.data)
            summary += check_inputs(cell)
    except BAD_INPUT as err:
        _fail(str(err))
    variants = len(config.variants)
    return config, [*summary, f"{len(cells)} grid cells ({variants} variants each)"]


def _is_ablation(path: Path) -> bool:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False  # the config loader reports it
    return isinstance(raw, dict) and "base" in raw


@app.command()
def validate(
    config: ConfigArg,
    set_: SetOption = None,
) -> None:
    """Check a config (pipeline or ablation grid) and every table it reads, no model loaded."""
    if _is_ablation(config):
        if set_:
            _fail("--set applies to pipeline configs, not to an ablation grid")
        _, summary = _load_and_check_ablation(config)
    else:
        _, summary = _load_and_check(config, set_)
    for line in summary:
        typer.echo(line)
    typer.secho("config OK", fg=typer.colors.GREEN)


@app.command()
def run(
    config: ConfigArg,
    set_: SetOption = None,
) -> None:
    """Run the whole pipeline under Prefect, tracked in MLflow (Ctrl-C or SIGTERM stops it)."""
    apply_defaults()
    from tasks.preflight import PreflightError, check_environment

    with _stoppable("run"):
        cfg, summary = _load_and_check(config, set_)
        for line in summary:
            typer.echo(line)
        try:
            check_environment(cfg)
        except PreflightError as err:
            _fail(str(err))
        from flows.pipeline import synprompt_pipeline

        result = _with_prefect_api(synprompt_pipeline, cfg)
    typer.echo("")
    if "zero_shot_test_accuracy" in result:
        typer.echo(f"zero-shot test accuracy: {result['zero_shot_test_accuracy']:.2f}%")
    typer.secho(f"test accuracy: {result['test_accuracy']:.2f}%", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"test macro-F1: {result['test_macro_f1']:.2f}%")
    metric = cfg.data.spec.metric
    if metric != "accuracy":  # the task's own metric (LM-BFF), the one dev selection used
        typer.echo(f"test {metric} ({cfg.data.task}'s metric): {result[f'test_{metric}']:.2f}")
    from tasks.tracking import redact_uri

    store = redact_uri(result["tracking_uri"])
    typer.echo(f"MLflow run: {result['run_id']}  (store: {store})")
    typer.echo(f"browse: mlflow ui --backend-store-uri {store} --host 127.0.0.1")
    typer.echo(f"tuned prompt: {result['folder']}")
    typer.echo(f"apply it: synprompt predict {result['folder']} ROWS.csv --output PREDICTIONS.csv")


@app.command()
def predict(
    folder: Annotated[Path, typer.Argument(help="Prompt-tuning output folder (`run` prints it)")],
    rows: Annotated[Path, typer.Argument(help="Rows to label: csv, tsv, jsonl or parquet")],
    output: Annotated[Path, typer.Option(help="Where to write: .csv, .jsonl or .parquet")],
    text_a: Annotated[str | None, typer.Option(help="Column of the (first) text")] = None,
    text_b: Annotated[str | None, typer.Option(help="Column of the second text (pairs)")] = None,
    label: Annotated[
        str | None,
        typer.Option(help="Column of known labels, if any: accuracy (and the task's metric)"),
    ] = None,
    device: Annotated[str | None, typer.Option(help="torch device (default: training's)")] = None,
) -> None:
    """Label new rows with a tuned prompt: prediction, meaning and p_<label> per row."""
    apply_defaults()
    from synprompt_core.data.errors import DataNote
    from synprompt_core.training.predict import predict_file
    from tasks.warning_state import data_notes

    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", DataNote)  # how columns and labels were read
            summary = predict_file(
                folder, rows, output, text_a=text_a, text_b=text_b, label=label, device=device
            )
    except BAD_INPUT as err:
        _fail(str(err))
    for note in data_notes(notes):  # other warnings are shown as they came
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {summary['rows']} predictions to {summary['output']}")
    if "accuracy" in summary:
        typer.echo(f"accuracy on the rows' own labels: {summary['accuracy']:.2f}%")
        metric = summary["metric"]
        if metric != "accuracy":  # the task's own (LM-BFF: F1 for MRPC/QQP, MCC for CoLA)
            typer.echo(f"{metric} on the rows' own labels: {summary[metric]:.2f}")


@contextmanager
def _stoppable(what: str) -> Iterator[None]:
    """Ctrl-C / SIGTERM stop the work inside in seconds: one line, exit code 128 + signal."""
    from flows.runtime import Interrupted, stop_on_signals

    try:
        with stop_on_signals():
            yield
    except Interrupted as stop:
        typer.secho(f"error: {what} {stop} (exit code {stop.exit_code})", fg="red", err=True)
        raise typer.Exit(code=stop.exit_code) from None


def _with_prefect_api(flow, config):
    """``flow(config)`` against the configured Prefect API or a temporary local server."""
    from flows.runtime import PrefectServerError, prefect_api

    try:
        with prefect_api():
            return flow(config)
    except PrefectServerError as err:
        _fail(f"the temporary Prefect server did not start: {err}")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


@app.command()
def compare(
    experiment: Annotated[str, typer.Option(help="MLflow experiment to summarise")],
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow store; default $MLFLOW_TRACKING_URI or the demo's local store"),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for comparison.{csv,md,png}")] = Path(
        "comparison"
    ),
    metric: Annotated[
        str,
        typer.Option(
            help="Metric in the cells, e.g. test_accuracy, test_f1, test_mcc, or "
            "test_task_metric: each task's own (F1 for MRPC/QQP, MCC for CoLA, else accuracy)"
        ),
    ] = "test_accuracy",
) -> None:
    """Paper-style table of an experiment: variants x tasks, mean ± std over seeds."""
    apply_defaults()
    from flows.compare import compare_experiment
    from tasks.tracking import tracking_uri as default_uri

    uri = default_uri(tracking_uri, ".synprompt")
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        _fail(
            f"no MLflow store at {uri}: run compare from the folder you ran synprompt in, "
            "or pass --tracking-uri"
        )
    try:
        result = compare_experiment(uri, experiment, out, metric=metric)
    except ValueError as err:
        _fail(str(err))
    typer.echo(result.markdown())
    typer.echo("")
    for path in result.files:
        typer.echo(f"wrote {path}")


AblationArg = Annotated[Path, typer.Argument(help="Ablation grid (YAML with a base: pipeline)")]


@app.command()
def ablation(config: AblationArg) -> None:
    """Run an ablation grid (tasks x seeds x strategy variants) and print its table."""
    apply_defaults()
    with _stoppable("ablation"):
        cfg, summary = _load_and_check_ablation(config)  # every cell's tables, before any run
        for line in summary:
            typer.echo(line)
        from flows.ablation import ablation_flow

        result = _with_prefect_api(ablation_flow, cfg)
    typer.echo(result["markdown"])


def _deployments_module():
    """``deployments/serve.py`` (a script folder, not a package) loaded by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "deployments" / "serve.py"
    spec = importlib.util.spec_from_file_location("synprompt_deployments", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _check_deployments(module, params: list[Path] | None, *, runs_in: Path) -> list:
    """Every parameter file's config and the tables it reads, before anything is registered;
    exits 2 on bad input. Relative paths are read from ``runs_in``, where the runs start."""
    import contextlib

    try:
        if params:
            specs = [module.spec_for_file(p.resolve()) for p in params]
        else:
            specs = module.read_manifest()
    except BAD_INPUT as err:
        _fail(str(err))
    with contextlib.chdir(runs_in):
        for spec in specs:
            if spec.entrypoint == module.ABLATION:
                _load_and_check_ablation(spec.parameters_file)
            else:
                _load_and_check(spec.parameters_file, None)
    return specs


ParamsOption = Annotated[
    list[Path] | None, typer.Option("--params", help="Parameter files (default: prefect.yaml's)")
]


@app.command()
def serve(params: ParamsOption = None) -> None:
    """Register the deployments with their parameter files and serve them (Ctrl-C stops)."""
    apply_defaults()
    module = _deployments_module()
    _check_deployments(module, params, runs_in=Path.cwd())  # served runs start here
    module.serve_deployments(params or None)


@app.command()
def deploy(params: ParamsOption = None) -> None:
    """Register deployments on the synprompt-process work pool.

    With no --params: every deployment of deployments/prefect.yaml (its parameter files
    stored as the Prefect variables it reads, then `prefect deploy --all`). With --params:
    one deployment per file, named after the file.
    """
    import os
    import subprocess

    from prefect.settings import get_current_settings

    apply_defaults()
    module = _deployments_module()
    specs = _check_deployments(module, params, runs_in=module.ROOT)  # where workers run them
    if not get_current_settings().api.url:  # else Prefect would deploy to a throwaway server
        _fail(
            "deploy needs a running Prefect server: start one (prefect server start --host "
            "127.0.0.1) and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    if module.ensure_crash_automation():
        typer.echo(f"automation '{module.CRASH_AUTOMATION}' is in place")
    if params:
        for spec, deployment_id in zip(specs, module.deploy_to_pool(specs), strict=True):
            typer.echo(f"deployed {spec.name} ({deployment_id}) to pool {module.POOL}")
        return
    module.sync_variables(specs)
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy"]
    command += ["--prefect-file", str(module.MANIFEST), "--all"]
    # prefect.yaml's runs start in {{ $PWD }}: the repository root, where the parameter
    # files' relative paths were checked
    env = {**os.environ, "PWD": str(module.ROOT)}
    raise typer.Exit(subprocess.call(command, cwd=module.ROOT, env=env))
