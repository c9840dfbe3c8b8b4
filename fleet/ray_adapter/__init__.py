"""Everything that touches Ray (and the only code that imports it): the backend the control plane
drives, the detached controller actor and its client, the router's fleet source, the local
cluster with simulated nodes, and joining a machine."""
