"""Update: what the trainer does with each loss `learn` returns.

backward (divided over `accumulation` calls, scaled for fp16), then once per step: average the gradients
across torchrun processes, unscale, clip the gradient norm, step, zero the gradients; and the scheduler,
once per step or once per completed epoch. A model that keeps its own optimizer has no Update.
"""
import torch


class Update:
    def __init__(self, optimizer, scheduler=None, device_type="cpu", accumulation=1, clip=None, per_step=False,
                 fp16=False, group=None):
        self.optimizer, self.scheduler, self.group = optimizer, scheduler, group  # group: torchrun processes
        self.accumulation, self.clip, self.per_step = accumulation, clip, per_step
        self.scaler = torch.amp.GradScaler(device_type, enabled=fp16)
        self.scaling = self.scaler.is_enabled()  # only fp16 scales; otherwise the scaler is skipped (hot path)
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self.epoch = 0

    def backward(self, loss):
        if self.accumulation > 1:
            loss = loss / self.accumulation
        (self.scaler.scale(loss) if self.scaling else loss).backward()

    def step(self, epoch):
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
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
