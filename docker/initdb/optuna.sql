-- A second database on the same server for Optuna studies (sweep.storage=postgresql+psycopg://.../optuna).
CREATE DATABASE optuna;
