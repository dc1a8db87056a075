"""Update: how the trainer calls `learn` and what it does with each loss `learn` returns.

`learn` is called `accumulation` times per step, under autocast at `precision` (bf16/fp16); each loss is
backpropagated (divided over the accumulation calls, scaled for fp16); then once per step: average the
gradients across torchrun processes, unscale, clip the gradient norm, step, zero the gradients; and the
scheduler, once per step or once per completed epoch. A model that keeps its own optimizer (`self.optim`)
optimizes itself in `learn`: its Update has no optimizer, and only calls `learn` (accumulation, precision).
"""

import torch

from ..errors import ConfigError
from .model import optimizes_itself

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Update:
    def __init__(
        self,
        optimizer=None,
        scheduler=None,
        *,
        device_type="cpu",
        accumulation=1,
        precision="fp32",
        clip=None,
        per_step=False,
        group=None,
    ):
        self.optimizer, self.scheduler, self.group = optimizer, scheduler, group  # group: torchrun processes
        self.device_type, self.accumulation, self.precision = device_type, accumulation, precision
        self.clip, self.per_step = clip, per_step
        self.scaler = torch.amp.GradScaler(device_type, enabled=precision == "fp16" and optimizer is not None)
        self.scaling = self.scaler.is_enabled()  # only fp16 scales; otherwise the scaler is skipped (hot path)
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]] if optimizer else []
        self.epoch = 0

    @classmethod
    def of(
        cls,
        model,
        optimizer,
        scheduler=None,
        *,
        accumulation=1,
        precision="fp32",
        clip=None,
        per_step=False,
        group=None,
    ):
        """The Update for `model`: `optimizer(parameters)` and `scheduler(optimizer)` (factories, or None for no
        scheduler) build the trainer's own, unless the model optimizes itself."""
        device_type = next(model.parameters(), torch.empty(0)).device.type
        if optimizes_itself(model):
            if group is not None:
                raise ConfigError(
                    f"{type(model).__name__} steps its own optimizer, so its gradients cannot be "
                    f"averaged across processes; let learn return its loss to train with torchrun"
                )
            return cls(device_type=device_type, accumulation=accumulation, precision=precision)
        parameters = [p for p in model.parameters() if p.requires_grad]
        if not parameters:
            raise ConfigError(f"model {type(model).__name__} has no trainable parameters for optim= to optimize")
        built = optimizer(parameters)
        return cls(
            built,
            scheduler(built) if scheduler is not None else None,
            device_type=device_type,
            accumulation=accumulation,
            precision=precision,
            clip=clip,
            per_step=per_step,
            group=group,
        )

    def learning(self, model):
        """`model.learn`, under autocast for bf16/fp16 (fp32 adds no context: entering even a disabled one
        costs time every step)."""
        if self.precision == "fp32":
            return model.learn
        return torch.autocast(self.device_type, dtype=PRECISIONS[self.precision])(model.learn)  # it decorates

    def backward(self, loss):
        if self.optimizer is None:
            return
        if self.accumulation > 1:
            loss = loss / self.accumulation
        (self.scaler.scale(loss) if self.scaling else loss).backward()

    def step(self, epoch):
        if self.optimizer is None:
            return
        if self.group is not None:
            from .distributed import average_gradients

            average_gradients(self.group, self.parameters)
        if self.clip is not None:
            if self.scaling:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        if self.scaling:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            for _ in range(1 if self.per_step else epoch - self.epoch):
                self.scheduler.step()
        self.epoch = epoch

    def any_process(self, flag):
        """Whether `flag` is true in any of the torchrun processes (one small all-reduce)."""
        from .distributed import any_process

        return any_process(self.group, flag, self.parameters[0].device)

    @property
    def lr(self):
        """The optimizer's learning rate (its first param group's); None for a model that optimizes itself."""
        return self.optimizer.param_groups[0]["lr"] if self.optimizer is not None else None

    def state_dict(self):
        """None for a model that optimizes itself (its own optimizers are in the checkpoint's "own")."""
        if self.optimizer is None:
            return None
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
        }

    def load_state_dict(self, state):
        if self.optimizer is None:
            return
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
