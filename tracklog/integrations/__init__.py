"""Integrations: tracklog inside other tools, and other tools' training loops inside tracklog.

- `tracklog.integrations.mlflow_plugin` — tracklog as MLflow's tracking and registry store for
  ``tracklog:<store>`` URIs (found by MLflow through its plugin entry points; imports MLflow);
- `tracklog.integrations.autolog` — `tracklog.autolog()`: scikit-learn, XGBoost and LightGBM
  patched, the callbacks below attached to the other frameworks installed;
- callbacks, one module per framework, each importing only its framework: ``lightning``
  (`TracklogLogger`), ``transformers`` (`TracklogCallback`), ``keras`` (`TracklogCallback`),
  ``xgboost`` (`TracklogCallback`), ``lightgbm`` (`tracklog_callback`);
- `tracklog.integrations.system_metrics` — CPU, memory, disk, network and GPU samples logged
  as MLflow's ``system/…`` metrics from one background thread.

Nothing here is imported by ``import tracklog`` except what `tracklog.autolog` and
`tracklog.enable_system_metrics_logging` need (no framework is imported until used).
"""
