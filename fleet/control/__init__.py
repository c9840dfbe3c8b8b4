"""The Ray-free control plane: desired state (policy + operator overrides), placement,
reconciliation, the manager's loop and the snapshots it publishes. Testable with an in-memory
backend; :mod:`fleet.ray_adapter` supplies the real one."""
