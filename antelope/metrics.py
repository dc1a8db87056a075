"""The metrics every room names: each task's main metric and which way is better, and what every run records
of its cost. One home, so a sweep's default objective, a plot's best line and a run's record agree."""

# The metric each task's evaluation reports, and which way is better: a sweep's default objective.
METRICS = {
    "classification": "eval/accuracy",
    "regression": "eval/mse",
    "rl": "eval/return",
    "generate": "eval/frechet_distance",  # antelope.train.judge: sees collapse, which eval/moment_error cannot
}
DIRECTIONS = {
    "eval/accuracy": "maximize",
    "eval/mse": "minimize",
    "eval/return": "maximize",
    "eval/moment_error": "minimize",
    "eval/frechet_distance": "minimize",
    "eval/classes_covered": "maximize",
    "eval/largest_class_share": "minimize",
    "eval/confidence": "maximize",
    "cost/train_seconds": "minimize",
    "cost/parameters": "minimize",
}
# What every run records of its cost (at step 0), for a sweep to weigh against its main metric: the model's
# parameter count, and the seconds spent training (summed over the run's resumes).
PARAMETERS, TRAIN_SECONDS = "cost/parameters", "cost/train_seconds"
# A sweep's parent run records each swept key's importance for the objective (Optuna's default evaluator) as a
# metric named this prefix + the key.
IMPORTANCE = "sweep/importance/"
