"""MLflow's system metrics of a run while it trains: CPU, memory, disk, network, and GPU where there is one."""

from .client import quiet, tracking_uri


class SystemMetrics:
    """MLflow's system metrics (CPU, memory, disk, network; GPU utilisation and memory when there is one)
    recorded on run `run_id` while training, every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (10 by
    default) under `system/` (`system/<node>/` with a `node`: one per torchrun process). A run shorter than
    one interval still gets the sample taken at its start."""

    def __init__(self, run_id, node=None, resumed=False):
        self.monitor = None
        if run_id is not None:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            with quiet("mlflow.system_metrics"):
                self.monitor = SystemMetricsMonitor(
                    run_id, node_id=node, resume_logging=resumed, tracking_uri=tracking_uri(redacted=False)
                )

    def __enter__(self):
        if self.monitor is not None:
            with quiet("mlflow.system_metrics"):
                self.monitor.start()
        return self

    def __exit__(self, *error):
        if self.monitor is not None:
            with quiet("mlflow.system_metrics"):
                self.monitor.finish()
            last = self.monitor.aggregate_metrics()  # what was sampled since the last write
            if last:
                try:
                    self.monitor.publish_metrics(last)
                    self.monitor.mlflow_logger.flush()
                except Exception:  # the server is away: the run's own metrics say so already
                    pass
        return False
