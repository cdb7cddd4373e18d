"""Register synprompt's deployments from ``prefect.yaml`` + ``params/*.yaml`` and serve them.

    python deployments/serve.py                        # every deployment in prefect.yaml
    python deployments/serve.py --params my-run.yaml   # one file; named <file stem>-served
    python deployments/serve.py --variables-only       # store params as Prefect variables

Each parameter file is validated (``PipelineConfig``, or ``AblationConfig`` when it has a
``base``) before anything is registered. ``serve`` runs flow runs as local subprocesses
against the API in ``PREFECT_API_URL``; no work pool or worker is needed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "deployments" / "prefect.yaml"
PIPELINE = "flows/pipeline.py:synprompt_pipeline"
ABLATION = "flows/ablation.py:ablation_flow"
POOL = "synprompt-process"  # the process work pool of prefect.yaml

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str
    parameters_file: Path
    crons: tuple[str, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def variable(self) -> str:
        return "synprompt_params_" + self.name.replace("-", "_")


def read_manifest(path: Path = MANIFEST) -> list[DeploymentSpec]:
    """The deployments of ``prefect.yaml`` with their parameter files and active crons."""
    raw = yaml.safe_load(path.read_text())
    return [
        DeploymentSpec(
            name=item["name"],
            entrypoint=item["entrypoint"],
            parameters_file=ROOT / item["parameters_file"],
            crons=tuple(s["cron"] for s in item.get("schedules") or [] if s.get("active", True)),
            description=item.get("description"),
            tags=tuple(item.get("tags") or ()),
        )
        for item in raw["deployments"]
    ]


def spec_for_file(path: Path) -> DeploymentSpec:
    """A deployment for a lone parameter file: ablation if it has a ``base``, else pipeline."""
    raw = yaml.safe_load(Path(path).read_text())
    entrypoint = ABLATION if isinstance(raw, dict) and "base" in raw else PIPELINE
    return DeploymentSpec(name=Path(path).stem, entrypoint=entrypoint, parameters_file=Path(path))


def load_parameters(spec: DeploymentSpec) -> dict:
    """``{"config": <validated config as JSON>}``; raises ``ConfigError`` naming the field."""
    if spec.entrypoint == ABLATION:
        from synprompt_core.configs.ablation import load_ablation

        config = load_ablation(spec.parameters_file)
    else:
        from synprompt_core.configs.pipeline import load_config

        config = load_config(spec.parameters_file)
    return {"config": config.model_dump(mode="json")}


def load_flow(entrypoint: str):
    from prefect.flows import load_flow_from_entrypoint

    path, name = entrypoint.split(":")
    return load_flow_from_entrypoint(f"{ROOT / path}:{name}")


def sync_variables(specs: list[DeploymentSpec]) -> None:
    """Store each validated parameter file as the Prefect variable ``prefect.yaml`` reads."""
    from prefect.variables import Variable

    for spec in specs:
        Variable.set(spec.variable, load_parameters(spec)["config"], overwrite=True)


SERVED = "-served"  # served deployments never share a name with the work-pool ones


def build_deployments(specs: list[DeploymentSpec]) -> list:
    """``RunnerDeployment``s with their parameters and active cron schedules.

    Each is named ``<name>-served``: Prefect's ``serve`` takes over a deployment of the same
    name (dropping its pull steps) and pauses it on exit, which would silently break the
    work-pool deployment that ``synprompt deploy`` registered under ``<name>``.
    """
    return [
        load_flow(spec.entrypoint).to_deployment(
            name=spec.name + SERVED,
            parameters=load_parameters(spec),
            cron=list(spec.crons) or None,
            description=spec.description,
            tags=list(spec.tags),
        )
        for spec in specs
    ]


def deploy_to_pool(specs: list[DeploymentSpec], *, work_pool: str = POOL) -> list[str]:
    """Register each parameter file as a deployment on ``work_pool``; returns their ids.

    The flow code is pulled from this checkout (``from_source``), so a process worker
    started anywhere on this machine runs it; parameters are the validated config itself.
    """
    from prefect.flows import Flow

    ids = []
    for spec in specs:
        remote = Flow.from_source(source=str(ROOT), entrypoint=spec.entrypoint)
        deployment_id = remote.deploy(
            name=spec.name,
            work_pool_name=work_pool,
            parameters=load_parameters(spec),
            cron=list(spec.crons) or None,
            description=spec.description,
            tags=list(spec.tags),
            print_next_steps=False,
            ignore_warnings=True,  # the process-pool advice is what we chose
        )
        ids.append(str(deployment_id))
    return ids


CRASH_AUTOMATION = "synprompt: crash unresponsive flow runs"
FINAL_EVENTS = ("Completed", "Failed", "Cancelled", "Crashed")


def ensure_crash_automation() -> str | None:
    """Create (once) the automation that marks a flow run CRASHED when its heartbeats stop.

    A worker killed mid-run (SIGKILL, OOM, a lost machine) otherwise leaves its flow run
    RUNNING in the UI forever: flow runs send heartbeats, but a self-hosted Prefect server
    acts on them only through an automation like this one (Prefect's "detect zombie flows"
    recipe). It fires after three missed heartbeats. Returns its id, or None when heartbeats
    are switched off (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` unset).
    """
    from datetime import timedelta

    from prefect import get_client
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.settings import get_current_settings

    every = get_current_settings().flows.heartbeat_frequency
    if every is None:
        return None
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(CRASH_AUTOMATION)
    if existing:
        return str(existing[0].id)
    automation = Automation(
        name=CRASH_AUTOMATION,
        description="A flow run that misses three heartbeats is marked CRASHED.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in FINAL_EVENTS)},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=3 * every),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {3 * every} s: the process running it is gone",
            )
        ],
    )
    return str(automation.create().id)


def serve_deployments(params: list[Path] | None = None) -> None:
    """Serve the manifest's deployments, or one per given parameter file; blocks."""
    from prefect import serve

    specs = [spec_for_file(p) for p in params] if params else read_manifest()
    ensure_crash_automation()
    serve(*build_deployments(specs), limit=2)


def main(argv: list[str] | None = None) -> None:
    from flows.runtime import apply_defaults

    apply_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, action="append", help="Parameter file(s)")
    parser.add_argument("--variables-only", action="store_true", help="Only store variables")
    args = parser.parse_args(argv)
    if args.variables_only:
        sync_variables([spec_for_file(p) for p in args.params] if args.params else read_manifest())
        return
    serve_deployments(args.params)


if __name__ == "__main__":
    main()
