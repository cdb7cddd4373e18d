"""One explicit bi-level step of generator tuning (DawGen Algorithm 1, FewGen meta-step).

``Q' = Q - a * dL_gen(Q; W)/dQ`` is a differentiable look-ahead evaluated with
``torch.func.functional_call`` (no optimiser step, no model copy); the weight net W
takes a step on ``L_disc(Q'(W))``; then Q takes its real step on ``L_gen(Q; W_new)``.
FewGen: ``L_gen = L_wGen``. DawGen: ``L_gen = L_wGen + lambda * L_dist``.

W reads each token's last-layer state (DawGen's ``R^d -> R``) or, as FewGen's weighting
network does, the token's discriminative loss under the current prompts; that loss is
computed once per step, without gradient, since Q is the same in the look-ahead and the
real step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from synprompt_core.configs.generator import GeneratorConfig
from synprompt_core.generator import losses
from synprompt_core.generator.prompts import LabelPrompts
from synprompt_core.generator.sequences import TokenBatch, prompted_forward
from synprompt_core.generator.weight_net import WeightNet, normalise_scores, weight_entropy


@dataclass(frozen=True)
class StepStats:
    """Diagnostics of one step (floats; NaN where a mode has no such term)."""

    loss: float
    lm: float
    gen: float = float("nan")
    dist: float = float("nan")
    disc: float = float("nan")
    hypergrad_norm: float = float("nan")
    weight_entropy: float = float("nan")
    weight_entropy_norm: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def lookahead_hypergradient(
    *,
    inner_loss: Callable[[dict[str, Tensor]], Tensor],
    outer_loss: Callable[[dict[str, Tensor]], Tensor],
    params: dict[str, Tensor],
    meta_params: list[Tensor],
    lr: float,
    step_rms: float | None = None,
) -> tuple[list[Tensor], Tensor]:
    """Gradient of ``outer(params - a * grad inner(params))`` with respect to meta-params.

    Args:
        inner_loss: maps parameter values to the inner loss; depends on ``meta_params``.
        outer_loss: maps (look-ahead) parameter values to the meta-objective.
        params: the inner parameters at their current values (require grad).
        meta_params: tensors the inner loss depends on (e.g. the weight net's).
        lr: ``a`` itself, or with ``step_rms`` a multiplier of it.
        step_rms: if set, ``a = lr * step_rms / rms(grad)`` (a constant of this step,
            not differentiated), so the look-ahead moves the parameters ``lr * step_rms``
            per coordinate (RMS) whatever the gradient's scale.

    Returns:
        ``(hypergrads, outer_value)``: one gradient per meta-param (zeros if unused) and
        the detached meta-objective at the look-ahead point.
    """
    names = list(params)
    inner = inner_loss(params)
    grads = torch.autograd.grad(inner, [params[k] for k in names], create_graph=True)
    if step_rms is not None:
        with torch.no_grad():
            squares = sum(float((g**2).sum()) for g in grads)
            rms = (squares / sum(g.numel() for g in grads)) ** 0.5
        lr = lr * step_rms / max(rms, 1e-12)
    ahead = {k: params[k] - lr * g for k, g in zip(names, grads, strict=True)}
    outer = outer_loss(ahead)
    hyper = torch.autograd.grad(outer, meta_params, allow_unused=True)
    filled = [
        torch.zeros_like(m) if h is None else h for h, m in zip(hyper, meta_params, strict=True)
    ]
    return filled, outer.detach()


def generation_objective(
    *,
    model,
    prompt_value: Tensor,
    weight_net: WeightNet,
    batch: TokenBatch,
    config,
    disc_features: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """``L_gen(Q; W)`` of the config's mode and its parts.

    Args:
        model: frozen causal LM.
        prompt_value: ``[L, N, d]`` label prompts (live or look-ahead values).
        weight_net: W; its input is the detached last-layer token states, or
            ``disc_features`` when the config's weight input is ``disc_loss``.
        batch: real rows.
        config: a ``GeneratorConfig`` (mode, weight input and norm, margin, dist_lambda).
        disc_features: ``[B, T]`` each token's discriminative loss (``token_disc_loss``);
            needed when W reads it.

    Returns:
        ``(loss, parts)``; parts hold lm, gen, dist and weight entropies as floats.
    """
    token_logp, hidden = prompted_forward(
        model=model, prompt=prompt_value[batch.labels], batch=batch
    )
    mask = batch.loss_mask
    parts = {"lm": float(losses.lm_loss(token_logp=token_logp.detach(), mask=mask))}
    if config.resolved_weight_input == "disc_loss":
        if disc_features is None:
            raise ValueError("weight_input disc_loss needs each token's discriminative loss")
        features = disc_features.detach().unsqueeze(-1)
    else:
        features = hidden.detach()
    weights = normalise_scores(
        scores=weight_net(features), mask=mask, method=config.resolved_weight_norm
    )
    loss = losses.weighted_generation_loss(token_logp=token_logp, weights=weights, mask=mask)
    parts["gen"] = float(loss.detach())
    parts["weight_entropy"], parts["weight_entropy_norm"] = weight_entropy(
        weights=weights, mask=mask
    )
    if config.mode == "dawgen":
        reps = losses.pool_weighted(hidden=hidden, weights=weights)
        dist = losses.distance_margin_loss(reps=reps, labels=batch.labels, margin=config.margin)
        parts["dist"] = float(dist.detach())
        loss = loss + config.dist_lambda * dist
    return loss, parts


def label_token_logp(*, model, prompt_value: Tensor, batch: TokenBatch) -> Tensor:
    """``[L, B, T]`` log p of every row's tokens under every label's prompt, one forward."""
    num_labels, size = prompt_value.shape[0], batch.labels.shape[0]
    every = prompt_value.repeat_interleave(size, dim=0)  # [L*B, N, d], label-major
    tiled = batch.select(torch.arange(size, device=batch.labels.device).repeat(num_labels))
    token_logp, _ = prompted_forward(model=model, prompt=every, batch=tiled)
    return token_logp.view(num_labels, size, -1)


def token_disc_loss(*, model, prompt_value: Tensor, batch: TokenBatch) -> Tensor:
    """``[B, T]`` each token's discriminative loss ``-log share`` (no gradient)."""
    with torch.no_grad():
        label_logp = label_token_logp(model=model, prompt_value=prompt_value, batch=batch)
        return -losses.own_label_log_share(label_logp=label_logp, labels=batch.labels)


def discrimination_objective(
    *, model, prompt_value: Tensor, batch: TokenBatch, form: str = "share"
) -> Tensor:
    """``L_disc``: every row scored under every label's prompt in one forward."""
    label_logp = label_token_logp(model=model, prompt_value=prompt_value, batch=batch)
    return losses.discriminative_loss(
        label_logp=label_logp, labels=batch.labels, mask=batch.loss_mask, form=form
    )


def _set_grads(params: list[nn.Parameter], grads: list[Tensor]) -> None:
    for param, grad in zip(params, grads, strict=True):
        param.grad = grad.detach()


def dawgen_step(
    *,
    model,
    prompts: LabelPrompts,
    weight_net: WeightNet,
    prompt_optimizer: torch.optim.Optimizer,
    weight_optimizer: torch.optim.Optimizer,
    batch: TokenBatch,
    config: GeneratorConfig,
) -> StepStats:
    """One step of Algorithm 1 (mode "dawgen") or of FewGen's meta-learning (mode "fewgen").

    1. look-ahead ``Q'(W) = Q - a * dL_gen(Q; W)/dQ`` (functional, differentiable), ``a``
       from ``config.lookahead`` (matched: Q moves as far as the real Adam step, whose
       per-coordinate size is the prompt optimiser's lr);
    2. W step on ``L_disc(Q'(W))`` via ``weight_optimizer``;
    3. Q step on ``L_gen(Q; W_new)`` via ``prompt_optimizer``.

    Returns:
        ``StepStats`` of the final Q step, with the meta-objective and hyper-gradient norm.
    """
    if config.mode not in ("fewgen", "dawgen"):
        raise ValueError(f"dawgen_step needs mode fewgen or dawgen, got {config.mode!r}")
    q_params = dict(prompts.named_parameters())
    w_params = list(weight_net.parameters())
    features = None
    if config.resolved_weight_input == "disc_loss":
        features = token_disc_loss(model=model, prompt_value=prompts(), batch=batch)

    def inner(values: dict[str, Tensor]) -> Tensor:
        value = functional_call(prompts, values, ())
        return generation_objective(
            model=model,
            prompt_value=value,
            weight_net=weight_net,
            batch=batch,
            config=config,
            disc_features=features,
        )[0]

    def outer(values: dict[str, Tensor]) -> Tensor:
        value = functional_call(prompts, values, ())
        return discrimination_objective(
            model=model, prompt_value=value, batch=batch, form=config.resolved_disc_form
        )

    hyper, disc = lookahead_hypergradient(
        inner_loss=inner,
        outer_loss=outer,
        params=q_params,
        meta_params=w_params,
        lr=config.lookahead_lr,
        step_rms=prompt_optimizer.param_groups[0]["lr"] if config.lookahead == "matched" else None,
    )
    weight_optimizer.zero_grad(set_to_none=True)
    _set_grads(w_params, hyper)
    weight_optimizer.step()
    stats = prompt_step(
        model=model,
        prompts=prompts,
        weight_net=weight_net,
        prompt_optimizer=prompt_optimizer,
        batch=batch,
        config=config,
        disc_features=features,
    )
    hyper_norm = float(torch.sqrt(sum((h.detach() ** 2).sum() for h in hyper)))
    return StepStats(**{**stats.as_dict(), "disc": float(disc), "hypergrad_norm": hyper_norm})


def prompt_step(
    *,
    model,
    prompts: LabelPrompts,
    weight_net: WeightNet | None,
    prompt_optimizer: torch.optim.Optimizer,
    batch: TokenBatch,
    config: GeneratorConfig,
    disc_features: Tensor | None = None,
) -> StepStats:
    """One optimiser step of Q: plain LM loss (mode "prompt") or ``L_gen(Q; W)``."""
    params = list(prompts.parameters())
    if config.mode == "prompt" or weight_net is None:
        token_logp, _ = prompted_forward(model=model, prompt=prompts()[batch.labels], batch=batch)
        loss = losses.lm_loss(token_logp=token_logp, mask=batch.loss_mask)
        parts = {"lm": float(loss.detach())}
    else:
        loss, parts = generation_objective(
            model=model,
            prompt_value=prompts(),
            weight_net=weight_net,
            batch=batch,
            config=config,
            disc_features=disc_features,
        )
    prompt_optimizer.zero_grad(set_to_none=True)
    _set_grads(params, list(torch.autograd.grad(loss, params)))
    prompt_optimizer.step()
    return StepStats(loss=float(loss.detach()), **parts)
