"""The sweep room: Optuna, and only here. A sweep (sweep) is one study over a space of overrides (space); its
workers (workers: processes here, or Slurm jobs: slurm) run trials (trial), each one run of the run room; the
study's storage, sampler, pruner and lost trials (studies); warm starts and queued configs (warmstart); what a
sweep leaves (report); optuna-dashboard on its study (dashboard). The presets (top-level sweeps/) install as
antelope/sweeps/presets. No other room uses it: the doors call `sweep.sweep` and `sweep.main`."""

__all__: list[str] = []
